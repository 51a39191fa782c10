"""What a simulation run produced (the same type from the fast engine and the SimPy oracle) and its summary."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from sim.queueing.config import QueueSimConfig, LambdaScaling

PERCENTILES = (50.0, 95.0, 99.0, 99.9)


class LatencySummary(TypedDict):
    count: int
    mean_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    p99_9_s: float
    max_s: float


class CostSummary(TypedDict):
    invocations: int
    billed_gb_seconds: float
    compute_usd: float
    requests_usd: float
    total_usd: float
    total_usd_per_day: float
    total_usd_per_30_days: float


class QueueSimSummary(TypedDict):
    engine: str
    pool: str
    arrivals: int
    succeeded: int
    dead_lettered: int
    dead_lettered_by_refusal: int
    in_flight_at_end: int
    dlq_rate: float
    receives: int
    refusals: int
    refusals_by_provider: dict[str, int]
    failed_receives: int
    mean_batch_size: float
    wait: LatencySummary
    end_to_end: LatencySummary
    max_queue_depth: int
    max_concurrency: int
    max_concurrency_limit: float
    mean_concurrency: float
    simulated_s: float
    cost: CostSummary
    wall_time_s: float


@dataclass
class TimeSeries:
    """Samples every ``config.sample_interval_s``: visible backlog, delayed retries, running invocations."""

    time_s: np.ndarray
    depth: np.ndarray  # visible messages waiting at the sample instant (ApproximateNumberOfMessagesVisible)
    depth_max: np.ndarray  # largest visible backlog during the interval ending at the sample
    delayed: np.ndarray  # messages invisible until a backoff or a visibility timeout ends
    concurrency: np.ndarray  # running invocations at the sample instant
    concurrency_max: np.ndarray  # most running invocations during the interval
    concurrency_limit: np.ndarray  # the scaler's limit (the pool size for a fixed pool)


@dataclass
class QueueSimResult:
    """Per-job arrays (index = arrival order) plus counters; ``to_summary()`` is JSON-ready."""

    config: QueueSimConfig
    engine: str
    arrivals: np.ndarray
    wait_s: np.ndarray  # first-receive wait per job, -1 if never received
    end_to_end_s: np.ndarray  # arrival to successful completion per job, -1 if not succeeded
    receives_per_job: np.ndarray
    outcome: np.ndarray  # 0 in flight at the end, 1 succeeded, 2 dead-lettered
    n_arrived: int
    succeeded: int
    dead_lettered: int
    dead_lettered_by_refusal: int
    in_flight_at_end: int
    receives: int
    refusals: int
    refusals_by_provider: dict[str, int]
    failed_receives: int
    invocations: int
    billed_ms: float
    busy_s: float
    max_queue_depth: int
    max_concurrency: int
    max_concurrency_limit: float
    start_s: float
    end_s: float
    series: TimeSeries
    wall_time_s: float = 0.0
    in_flight_breakdown: dict[str, int] = field(default_factory=dict)

    @property
    def dlq_rate(self) -> float:
        return self.dead_lettered / self.n_arrived if self.n_arrived else 0.0

    @property
    def simulated_s(self) -> float:
        return max(self.end_s - self.start_s, 0.0)

    def cost(self) -> CostSummary:
        rates = self.config.cost
        gb_seconds = self.billed_ms / 1000.0 * rates.memory_mb / 1024.0
        compute = gb_seconds * rates.usd_per_gb_second
        requests = self.invocations / 1e6 * rates.usd_per_million_requests
        total = compute + requests
        # Scale by the arrival span, not the drain tail, so a one-day run reports one day's cost.
        span = float(self.arrivals[-1] - self.arrivals[0]) if self.arrivals.size > 1 else 0.0
        per_day = total * 86_400.0 / span if span > 0 else 0.0
        return CostSummary(
            invocations=self.invocations,
            billed_gb_seconds=gb_seconds,
            compute_usd=compute,
            requests_usd=requests,
            total_usd=total,
            total_usd_per_day=per_day,
            total_usd_per_30_days=per_day * 30.0,
        )

    def to_summary(self) -> QueueSimSummary:
        pool = self.config.pool
        pool_text = (
            f"lambda(max_concurrency={pool.max_concurrency})" if isinstance(pool, LambdaScaling) else f"fixed({pool.workers})"
        )
        mean_batch = self.receives / self.invocations if self.invocations else 0.0
        mean_conc = self.busy_s / self.simulated_s if self.simulated_s > 0 else 0.0
        return QueueSimSummary(
            engine=self.engine,
            pool=pool_text,
            arrivals=self.n_arrived,
            succeeded=self.succeeded,
            dead_lettered=self.dead_lettered,
            dead_lettered_by_refusal=self.dead_lettered_by_refusal,
            in_flight_at_end=self.in_flight_at_end,
            dlq_rate=self.dlq_rate,
            receives=self.receives,
            refusals=self.refusals,
            refusals_by_provider=dict(self.refusals_by_provider),
            failed_receives=self.failed_receives,
            mean_batch_size=mean_batch,
            wait=latency_summary(self.wait_s),
            end_to_end=latency_summary(self.end_to_end_s),
            max_queue_depth=self.max_queue_depth,
            max_concurrency=self.max_concurrency,
            max_concurrency_limit=float(self.max_concurrency_limit),
            mean_concurrency=mean_conc,
            simulated_s=self.simulated_s,
            cost=self.cost(),
            wall_time_s=self.wall_time_s,
        )


def latency_summary(values: np.ndarray) -> LatencySummary:
    """Percentiles of the non-negative entries (negative marks "no value" in the per-job arrays)."""
    present = values[values >= 0]
    if present.size == 0:
        return LatencySummary(count=0, mean_s=0.0, p50_s=0.0, p95_s=0.0, p99_s=0.0, p99_9_s=0.0, max_s=0.0)
    present = present.astype(np.float64, copy=False)
    p50, p95, p99, p999 = (float(v) for v in np.percentile(present, PERCENTILES))
    return LatencySummary(
        count=int(present.size),
        mean_s=float(present.mean()),
        p50_s=p50,
        p95_s=p95,
        p99_s=p99,
        p99_9_s=p999,
        max_s=float(present.max()),
    )
