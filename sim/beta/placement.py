"""Place a beta fit against the Conservative / Nominal / Aggressive scenarios and price its deviations.

For each parameter: where the estimate (and its interval) falls among the three scenarios' values, and what
replacing only that parameter of Nominal by the fitted value does to capacity and monthly cost at the target
DAU. A deviation *matters* when its interval excludes Nominal and it moves the monthly cost by at least
``MATERIAL_SHARE`` of Nominal's (or changes peak capacity by at least ``CAPACITY_SHARE``, for the peak ratio,
which on-demand prices do not see).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.beta.estimate import FitResult
from sim.capacity import project
from sim.cost import Sensitivity, cost_sensitivity, model_cost, projection_record
from sim.models import PARAMETER_LABELS, PARAMETER_NAMES, TrafficModel, format_ratio, get_model, model_names

MATERIAL_SHARE = 0.01      # 1 % of the Nominal monthly cost
CAPACITY_SHARE = 0.10      # 10 % of a Nominal peak figure
FIT_MODEL_NAME = "beta-fit"


@dataclass(frozen=True)
class Placement:
    parameter: str
    estimate: float
    low: float
    high: float
    scenario_values: dict[str, float]
    position: str              # e.g. "consistent with nominal", "between nominal and aggressive"
    consistent_with: list[str]


@dataclass(frozen=True)
class Deviation:
    """One parameter's departure from Nominal, in money and capacity at the projected DAU."""

    parameter: str
    nominal_value: float
    fitted_value: float
    low: float
    high: float
    delta_monthly_usd: float
    delta_annual_usd: float
    delta_egress_tb_per_month: float
    delta_peak_rps: float
    delta_peak_syncs_per_s: float
    delta_worker_concurrency: float
    matters: bool
    message: str


@dataclass(frozen=True)
class FitReport:
    source: str
    skipped_rows: int
    bad_rows: list[str]
    fit: FitResult
    dau: int
    fitted_model: TrafficModel
    placements: list[Placement]
    closest_scenario: str
    deviations: list[Deviation]          # the ones that matter, largest money first
    all_deviations: list[Deviation]
    projected_models: list[TrafficModel]  # the three scenarios and the fit, at ``dau``
    sensitivity: list[Sensitivity]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "skipped_rows": self.skipped_rows,
            "bad_rows": self.bad_rows,
            "fit": self.fit.as_dict(),
            "dau": self.dau,
            "fitted_parameters": self.fitted_model.parameters(),
            "placements": [asdict(p) for p in self.placements],
            "closest_scenario": self.closest_scenario,
            "deviations": [asdict(d) for d in self.deviations],
            "all_deviations": [asdict(d) for d in self.all_deviations],
            "projections": [projection_record(model) for model in self.projected_models],
            "sensitivity": [row.as_dict() for row in self.sensitivity],
            "notes": self.notes,
        }


def _format(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if name in ("write_read_ratio", "peak_to_average"):
        return format_ratio(value)
    if name == "heavy_share":
        return f"{value:.1%}"
    return f"{value:.3g}"


def place(name: str, low: float, value: float, high: float, scenarios: dict[str, float]) -> Placement:
    """Where an estimate with interval [low, high] falls among the scenario values (increasing in order)."""
    consistent = [s for s, v in scenarios.items() if low <= v <= high]
    ordered = sorted(scenarios.items(), key=lambda item: item[1])
    if math.isnan(value):
        position = "no data"
    elif consistent:
        position = "consistent with " + " and ".join(consistent)
    elif value < ordered[0][1]:
        position = f"below {ordered[0][0]}"
    elif value > ordered[-1][1]:
        position = f"above {ordered[-1][0]}"
    else:
        below = max((item for item in ordered if item[1] <= value), key=lambda item: item[1])
        above = min((item for item in ordered if item[1] > value), key=lambda item: item[1])
        position = f"between {below[0]} and {above[0]}"
    return Placement(name, value, low, high, dict(scenarios), position, consistent)


def closest_scenario(fitted: dict[str, float], scenarios: dict[str, TrafficModel]) -> str:
    """The scenario with the smallest mean absolute log-ratio to the fitted parameters."""
    def distance(model: TrafficModel) -> float:
        terms = [
            abs(math.log(value / getattr(model, name)))
            for name, value in fitted.items()
            if value > 0 and not math.isnan(value) and getattr(model, name) > 0
        ]
        return sum(terms) / len(terms) if terms else math.inf

    return min(scenarios, key=lambda name: distance(scenarios[name]))


def fitted_model(fit: FitResult, dau: int, notes: list[str]) -> TrafficModel:
    """The fitted parameters as a traffic model; a parameter without data falls back to Nominal's value."""
    nominal = get_model("nominal", dau)
    values: dict[str, float] = {}
    for name in PARAMETER_NAMES:
        value = fit.value(name)
        if math.isnan(value):
            notes.append(f"{PARAMETER_LABELS[name]}: no data in the beta; Nominal's {getattr(nominal, name):g} is used")
            continue
        if name == "peak_to_average":
            value = max(1.0, value)
        values[name] = value
    return nominal.with_overrides(name=FIT_MODEL_NAME, **values)


def deviation(name: str, fit: FitResult, nominal: TrafficModel) -> Deviation:
    estimate = fit.estimates[name]
    changed = nominal.with_overrides(**{name: estimate.value if name != "peak_to_average" else max(1.0, estimate.value)})
    base_p, new_p = project(nominal), project(changed)
    base_cost, new_cost = model_cost(nominal).total_usd, model_cost(changed).total_usd
    delta = new_cost - base_cost
    nominal_value = float(getattr(nominal, name))
    excludes_nominal = not estimate.contains(nominal_value)
    money_matters = abs(delta) >= MATERIAL_SHARE * base_cost
    capacity_matters = name == "peak_to_average" and abs(new_p.peak_rps - base_p.peak_rps) >= CAPACITY_SHARE * base_p.peak_rps
    matters = excludes_nominal and (money_matters or capacity_matters)
    effects = []
    d_egress = new_p.egress_tb_per_month - base_p.egress_tb_per_month
    if abs(d_egress) >= 0.005:
        effects.append(f"egress {d_egress:+,.2f} TB/month")
    if abs(new_p.peak_rps - base_p.peak_rps) >= 0.5:
        effects.append(f"peak RPS {new_p.peak_rps - base_p.peak_rps:+,.0f}")
    if abs(new_p.peak_syncs_per_s - base_p.peak_syncs_per_s) >= 0.5:
        effects.append(f"peak syncs/s {new_p.peak_syncs_per_s - base_p.peak_syncs_per_s:+,.0f}")
    if abs(new_p.worker_concurrency - base_p.worker_concurrency) >= 0.5:
        effects.append(f"workers {new_p.worker_concurrency - base_p.worker_concurrency:+,.0f}")
    if abs(new_p.billed_peak_write_qps - base_p.billed_peak_write_qps) >= 0.5:
        effects.append(f"billed write QPS {new_p.billed_peak_write_qps - base_p.billed_peak_write_qps:+,.0f}")
    sign = "+" if delta >= 0 else "-"
    money = f"{sign}${abs(delta):,.0f}/month ({sign}${abs(delta) * 12:,.0f}/year)"
    if delta == 0:
        money = "no on-demand cost change (sizes provisioned concurrency and the peak NFR)"
    ratio = estimate.value / nominal_value if nominal_value else math.nan
    message = (
        f"{PARAMETER_LABELS[name]} {_format(name, estimate.value)} "
        f"[{_format(name, estimate.low)}, {_format(name, estimate.high)}] vs Nominal {_format(name, nominal_value)}"
        f" ({ratio:.2f}x): {', '.join(effects + [money]) if effects else money}"
    )
    return Deviation(
        parameter=name,
        nominal_value=nominal_value,
        fitted_value=estimate.value,
        low=estimate.low,
        high=estimate.high,
        delta_monthly_usd=delta,
        delta_annual_usd=delta * 12,
        delta_egress_tb_per_month=d_egress,
        delta_peak_rps=new_p.peak_rps - base_p.peak_rps,
        delta_peak_syncs_per_s=new_p.peak_syncs_per_s - base_p.peak_syncs_per_s,
        delta_worker_concurrency=new_p.worker_concurrency - base_p.worker_concurrency,
        matters=matters,
        message=message,
    )


def build_fit_report(
    fit: FitResult, dau: int = 1_000_000, source: str = "", skipped_rows: int = 0, bad_rows: list[str] | None = None
) -> FitReport:
    scenarios = {name: get_model(name, dau) for name in model_names()}
    notes: list[str] = []
    model = fitted_model(fit, dau, notes)
    placements = [
        place(name, fit.estimates[name].low, fit.value(name), fit.estimates[name].high,
              {s: float(getattr(m, name)) for s, m in scenarios.items()})
        for name in PARAMETER_NAMES
    ]
    nominal = scenarios["nominal"]
    all_deviations = [deviation(name, fit, nominal) for name in PARAMETER_NAMES if not math.isnan(fit.value(name))]
    mattering = sorted((d for d in all_deviations if d.matters), key=lambda d: abs(d.delta_monthly_usd), reverse=True)
    fitted_values = {name: fit.value(name) for name in PARAMETER_NAMES}
    return FitReport(
        source=source,
        skipped_rows=skipped_rows,
        bad_rows=list(bad_rows or []),
        fit=fit,
        dau=dau,
        fitted_model=model,
        placements=placements,
        closest_scenario=closest_scenario(fitted_values, scenarios),
        deviations=mattering,
        all_deviations=all_deviations,
        projected_models=[*scenarios.values(), model],
        sensitivity=cost_sensitivity(model, scenarios["conservative"], scenarios["aggressive"]),
        notes=notes,
    )
