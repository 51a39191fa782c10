"""Capacity projection: the derived figures of seed 004 §2 "Capacity Calculations" for any traffic model.

``project(model)`` reproduces the seed's arithmetic from data: requests and syncs per day, average and peak
rates, DynamoDB and Redis load, egress and the worker concurrency of 004 §3. The per-sync constants (1 read,
2 cache ops, a DR replica, 1.5 s workers in batches of 10...) come from ``sim/data/capacity_assumptions.yaml``.

The seeds round the average before multiplying by the peak ratio (521 RPS * 5 = 2,605); we do not, so exact
figures differ from the printed ones by well under 1 % (2,604.2 RPS, 578.7 syncs/s, ~86.8 workers).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from sim.errors import UsageError
from sim.models import TrafficModel, load_data_file

ASSUMPTIONS_FILE = "capacity_assumptions.yaml"


@dataclass(frozen=True)
class CapacityAssumptions:
    """Per-unit-of-work constants (see capacity_assumptions.yaml for the seed line behind each)."""

    seconds_per_day: float
    days_per_month: float
    hours_per_month: float
    db_reads_per_sync: float
    global_table_replicas: float
    table_gb_per_dau: float
    cache_ops_per_sync: float
    cache_design_ops_per_s: float
    cache_min_nodes: int
    worker_avg_duration_s: float
    worker_batch_size: float
    worker_memory_mb: float
    billed_invocations_per_sync: float
    sqs_requests_per_sync: float
    bytes_per_kb: float
    firewall_inspected_share: float
    log_bytes_per_work_item: float


@lru_cache(maxsize=1)
def load_assumptions() -> CapacityAssumptions:
    raw = load_data_file(ASSUMPTIONS_FILE)
    try:
        return CapacityAssumptions(
            seconds_per_day=float(raw["seconds_per_day"]),
            days_per_month=float(raw["days_per_month"]),
            hours_per_month=float(raw["hours_per_month"]),
            db_reads_per_sync=float(raw["database"]["reads_per_sync"]),
            global_table_replicas=float(raw["database"]["global_table_replicas"]),
            table_gb_per_dau=float(raw["database"]["table_gb_per_dau"]),
            cache_ops_per_sync=float(raw["cache"]["ops_per_sync"]),
            cache_design_ops_per_s=float(raw["cache"]["design_ops_per_s"]),
            cache_min_nodes=int(raw["cache"]["min_nodes"]),
            worker_avg_duration_s=float(raw["worker"]["avg_duration_s"]),
            worker_batch_size=float(raw["worker"]["batch_size"]),
            worker_memory_mb=float(raw["worker"]["memory_mb"]),
            billed_invocations_per_sync=float(raw["worker"]["billed_invocations_per_sync"]),
            sqs_requests_per_sync=float(raw["messaging"]["sqs_requests_per_sync"]),
            bytes_per_kb=float(raw["egress"]["bytes_per_kb"]),
            firewall_inspected_share=float(raw["egress"]["firewall_inspected_share"]),
            log_bytes_per_work_item=float(raw["observability"]["log_bytes_per_work_item"]),
        )
    except KeyError as exc:
        raise UsageError(f"sim/data/{ASSUMPTIONS_FILE} is missing {exc.args[0]!r}") from exc


@dataclass(frozen=True)
class CapacityProjection:
    """The derived load of one traffic model (daily, per-second average and peak, monthly)."""

    model: str
    dau: int
    requests_per_day: float
    avg_rps: float
    peak_rps: float
    syncs_per_day: float
    avg_syncs_per_s: float
    peak_syncs_per_s: float
    db_writes_per_sync: float
    avg_read_qps: float
    avg_write_qps: float
    peak_read_qps: float
    peak_write_qps: float
    billed_peak_write_qps: float
    peak_cache_ops_per_s: float
    cache_nodes: int
    avg_payload_kb: float
    light_egress_gb_per_day: float
    heavy_egress_gb_per_day: float
    egress_gb_per_day: float
    egress_gb_per_month: float
    egress_tb_per_month: float
    requests_per_month: float
    syncs_per_month: float
    worker_concurrency: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def db_writes_per_sync(model: TrafficModel, assumptions: CapacityAssumptions) -> float:
    # The seed's ratio is writes:reads on the database, and every sync reads its config once.
    return assumptions.db_reads_per_sync * model.write_read_ratio


def project(model: TrafficModel, assumptions: CapacityAssumptions | None = None) -> CapacityProjection:
    """Every derived capacity figure of seed 004 §2 / §3 for ``model``."""
    a = assumptions or load_assumptions()
    requests_per_day = model.dau * model.sessions_per_user_per_day * model.requests_per_session
    syncs_per_day = model.dau * model.syncs_per_user_per_day
    avg_rps = requests_per_day / a.seconds_per_day
    avg_syncs = syncs_per_day / a.seconds_per_day
    peak_syncs = avg_syncs * model.peak_to_average
    writes_per_sync = db_writes_per_sync(model, a)
    peak_cache_ops = peak_syncs * a.cache_ops_per_sync
    # Enough node pairs to keep peak cache load under the design target, never fewer than the seed's 2.
    cache_nodes = max(a.cache_min_nodes, a.cache_min_nodes * math.ceil(peak_cache_ops / a.cache_design_ops_per_s))
    kb_per_gb = 1e9 / a.bytes_per_kb
    light_gb = syncs_per_day * (1 - model.heavy_share) * model.light_payload_kb / kb_per_gb
    heavy_gb = syncs_per_day * model.heavy_share * model.heavy_payload_kb / kb_per_gb
    egress_gb_per_day = light_gb + heavy_gb
    return CapacityProjection(
        model=model.name,
        dau=model.dau,
        requests_per_day=requests_per_day,
        avg_rps=avg_rps,
        peak_rps=avg_rps * model.peak_to_average,
        syncs_per_day=syncs_per_day,
        avg_syncs_per_s=avg_syncs,
        peak_syncs_per_s=peak_syncs,
        db_writes_per_sync=writes_per_sync,
        avg_read_qps=avg_syncs * a.db_reads_per_sync,
        avg_write_qps=avg_syncs * writes_per_sync,
        peak_read_qps=peak_syncs * a.db_reads_per_sync,
        peak_write_qps=peak_syncs * writes_per_sync,
        billed_peak_write_qps=peak_syncs * writes_per_sync * a.global_table_replicas,
        peak_cache_ops_per_s=peak_cache_ops,
        cache_nodes=cache_nodes,
        avg_payload_kb=(1 - model.heavy_share) * model.light_payload_kb + model.heavy_share * model.heavy_payload_kb,
        light_egress_gb_per_day=light_gb,
        heavy_egress_gb_per_day=heavy_gb,
        egress_gb_per_day=egress_gb_per_day,
        egress_gb_per_month=egress_gb_per_day * a.days_per_month,
        egress_tb_per_month=egress_gb_per_day * a.days_per_month / 1000,
        requests_per_month=requests_per_day * a.days_per_month,
        syncs_per_month=syncs_per_day * a.days_per_month,
        # 004 §3: peak syncs/s * avg duration / batch size (Little's law over batches)
        worker_concurrency=peak_syncs * a.worker_avg_duration_s / a.worker_batch_size,
    )
