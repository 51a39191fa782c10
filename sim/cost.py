"""Monthly cost: the reconciled cost table of seed 004 §9 as unit prices (data) times traffic drivers.

Each line item of ``sim/data/cost_table.yaml`` names a *driver*, a monthly quantity computed here from a
``CapacityProjection`` (GB-seconds of Lambda, billed WCUs, egress GB...). Cost = driver * quantity_factor *
unit_price / per_units. Flat items use the driver ``month`` (= 1).

Reconciliation with the seed (Nominal): the bottom-up total is ~$12,241 against the seed's "~$12,376". The
seed's own lines do not add up to its total (they sum to $12,366), its Lambda duration line says $6,120
where its unit price and units give $5,998.50 (300M * 1.5 s * 1 GB * $0.00001333), and its NAT line uses
16,400 GB where §2 computes 16,350 GB. Every other line matches to the dollar.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Callable

from sim.capacity import CapacityAssumptions, CapacityProjection, load_assumptions, project
from sim.errors import UsageError
from sim.models import PARAMETER_NAMES, TrafficModel, get_model, load_data_file, seed_stated_figures

COST_FILE = "cost_table.yaml"

DriverFn = Callable[[CapacityProjection, CapacityAssumptions], float]

# Monthly quantities a cost line can be priced on. Names are referenced from cost_table.yaml.
DRIVERS: dict[str, DriverFn] = {
    "lambda_gb_seconds": lambda p, a: (
        p.syncs_per_month * a.billed_invocations_per_sync * a.worker_avg_duration_s * a.worker_memory_mb / 1024
    ),
    "lambda_invocations": lambda p, a: p.syncs_per_month * a.billed_invocations_per_sync,
    "dynamodb_billed_writes": lambda p, a: p.syncs_per_month * p.db_writes_per_sync * a.global_table_replicas,
    "dynamodb_reads": lambda p, a: p.syncs_per_month * a.db_reads_per_sync,
    "table_storage_gb": lambda p, a: p.dau * a.table_gb_per_dau,
    "cache_node_hours": lambda p, a: p.cache_nodes * a.hours_per_month,
    "egress_gb": lambda p, a: p.egress_gb_per_month,
    "firewall_gb": lambda p, a: p.egress_gb_per_month * a.firewall_inspected_share,
    "api_requests": lambda p, a: p.requests_per_month,
    "sqs_requests": lambda p, a: p.syncs_per_month * a.sqs_requests_per_sync,
    "log_gb": lambda p, a: (p.requests_per_month + p.syncs_per_month) * a.log_bytes_per_work_item / 1e9,
    "month": lambda p, a: 1.0,
}

CATEGORY_LABELS: dict[str, str] = {
    "compute": "Compute (Lambda)",
    "network_messaging": "Network & Messaging (API GW, NAT, SQS)",
    "database_cache": "Database & Cache",
    "observability": "Observability (CloudWatch)",
    "security_other": "Other (Security, etc.)",
}


@dataclass(frozen=True)
class CostLineItem:
    id: str
    category: str
    service: str
    unit_price_usd: float
    per_units: float
    unit: str
    driver: str
    quantity_factor: float
    seed_units: str
    seed_cost_usd: float


@dataclass(frozen=True)
class CostTable:
    line_items: tuple[CostLineItem, ...]
    savings_plan_discount: float
    savings_plan_applies_to: frozenset[str]
    seed_total_usd: float
    seed_category_shares: dict[str, float]


@dataclass(frozen=True)
class LineCost:
    id: str
    category: str
    service: str
    quantity: float
    unit: str
    unit_price_usd: float
    per_units: float
    cost_usd: float
    seed_cost_usd: float


@dataclass(frozen=True)
class CostBreakdown:
    model: str
    dau: int
    lines: tuple[LineCost, ...]
    total_usd: float
    savings_plan_total_usd: float

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = {key: 0.0 for key in CATEGORY_LABELS}
        for line in self.lines:
            totals[line.category] = totals.get(line.category, 0.0) + line.cost_usd
        return totals

    def line(self, line_id: str) -> LineCost:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dau": self.dau,
            "total_usd": self.total_usd,
            "savings_plan_total_usd": self.savings_plan_total_usd,
            "per_dau_usd": self.total_usd / self.dau if self.dau else None,
            "by_category": self.by_category(),
            "lines": [asdict(line) for line in self.lines],
        }


@lru_cache(maxsize=1)
def load_cost_table() -> CostTable:
    raw = load_data_file(COST_FILE)
    try:
        items = tuple(
            CostLineItem(
                id=str(item["id"]),
                category=str(item["category"]),
                service=str(item["service"]),
                unit_price_usd=float(item["unit_price_usd"]),
                per_units=float(item.get("per_units", 1)),
                unit=str(item["unit"]),
                driver=str(item["driver"]),
                quantity_factor=float(item.get("quantity_factor", 1)),
                seed_units=str(item.get("seed_units", "")),
                seed_cost_usd=float(item.get("seed_cost_usd", 0)),
            )
            for item in raw["line_items"]
        )
        plan = raw["savings_plan"]
        table = CostTable(
            line_items=items,
            savings_plan_discount=float(plan["discount"]),
            savings_plan_applies_to=frozenset(plan["applies_to"]),
            seed_total_usd=float(raw["seed_total_usd"]),
            seed_category_shares={k: float(v) for k, v in raw["seed_category_shares"].items()},
        )
    except KeyError as exc:
        raise UsageError(f"sim/data/{COST_FILE} is missing {exc.args[0]!r}") from exc
    unknown = sorted({item.driver for item in items} - set(DRIVERS))
    if unknown:
        raise UsageError(f"sim/data/{COST_FILE}: unknown driver(s) {', '.join(unknown)}")
    return table


def monthly_cost(
    projection: CapacityProjection,
    table: CostTable | None = None,
    assumptions: CapacityAssumptions | None = None,
) -> CostBreakdown:
    """The 004 §9 monthly table (on demand, and with the Lambda savings plan) for one projection."""
    table = table or load_cost_table()
    assumptions = assumptions or load_assumptions()
    lines = []
    discount_usd = 0.0
    for item in table.line_items:
        quantity = DRIVERS[item.driver](projection, assumptions) * item.quantity_factor
        cost = quantity * item.unit_price_usd / item.per_units
        if item.id in table.savings_plan_applies_to:
            discount_usd += cost * table.savings_plan_discount
        lines.append(
            LineCost(
                id=item.id,
                category=item.category,
                service=item.service,
                quantity=quantity,
                unit=item.unit,
                unit_price_usd=item.unit_price_usd,
                per_units=item.per_units,
                cost_usd=cost,
                seed_cost_usd=item.seed_cost_usd,
            )
        )
    total = sum(line.cost_usd for line in lines)
    return CostBreakdown(
        model=projection.model,
        dau=projection.dau,
        lines=tuple(lines),
        total_usd=total,
        savings_plan_total_usd=total - discount_usd,
    )


def model_cost(model: TrafficModel) -> CostBreakdown:
    return monthly_cost(project(model))


@dataclass(frozen=True)
class Sensitivity:
    """How the monthly cost moves with one parameter, everything else held at the base model."""

    parameter: str
    base_value: float
    base_cost_usd: float
    plus_10pct_delta_usd: float      # cost change when the parameter grows by 10 %
    elasticity: float                # % cost change per % parameter change (around the base)
    low_value: float
    low_cost_usd: float
    high_value: float
    high_cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_sensitivity(base: TrafficModel, low: TrafficModel, high: TrafficModel) -> list[Sensitivity]:
    """One row per parameter: +10 % around ``base`` and the swing between the ``low`` and ``high`` models'
    values of that parameter (a tornado chart). Sorted by the size of the swing, largest first."""
    base_cost = model_cost(base).total_usd
    rows = []
    for name in PARAMETER_NAMES:
        value = float(getattr(base, name))
        bumped = value * 1.1
        if name == "heavy_share":
            bumped = min(1.0, bumped)
        if name == "peak_to_average":
            bumped = max(1.0, bumped)
        plus = model_cost(base.with_overrides(**{name: bumped})).total_usd - base_cost
        relative_step = (bumped - value) / value if value else 0.0
        elasticity = (plus / base_cost) / relative_step if relative_step and base_cost else 0.0
        low_value, high_value = float(getattr(low, name)), float(getattr(high, name))
        rows.append(
            Sensitivity(
                parameter=name,
                base_value=value,
                base_cost_usd=base_cost,
                plus_10pct_delta_usd=plus,
                elasticity=elasticity,
                low_value=low_value,
                low_cost_usd=model_cost(base.with_overrides(**{name: low_value})).total_usd,
                high_value=high_value,
                high_cost_usd=model_cost(base.with_overrides(**{name: high_value})).total_usd,
            )
        )
    rows.sort(key=lambda row: abs(row.high_cost_usd - row.low_cost_usd), reverse=True)
    return rows


def projection_record(model: TrafficModel) -> dict[str, Any]:
    """Everything ``project --json`` prints for one model."""
    projection = project(model)
    cost = monthly_cost(projection)
    record: dict[str, Any] = {"model": model.name, "parameters": model.parameters()}
    record.update(projection.as_dict())
    record["monthly_cost_usd"] = cost.total_usd
    record["monthly_cost_savings_plan_usd"] = cost.savings_plan_total_usd
    record["cost_per_dau_usd"] = cost.total_usd / model.dau if model.dau else None
    record["annual_cost_usd"] = cost.total_usd * 12
    record["cost_by_category_usd"] = cost.by_category()
    record["cost_lines"] = cost.as_dict()["lines"]
    seed = seed_stated_figures().get(model.name)
    if seed and model == get_model(model.name):
        record["seed_stated"] = seed
    return record
