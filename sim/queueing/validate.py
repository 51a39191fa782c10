"""Prediction against measurement: replay a measured run's arrivals through the simulator and compare.

The simulator gets the run's own inputs: its job arrivals (enqueue instants), its worker pool (a fixed pool of
the pollers the workers reported, batches of up to ``batch_size``) and its service times (reconstructed per
batch, resampled). Token buckets and failures are left out: a throttled or retried job's extra time is
already inside the measured service times. It runs ``replications`` times with different seeds (the service
draws vary) and the median replication is the prediction.

Tolerance, and why:

- **Latency percentiles (p95, p99 of enqueue -> SUCCEEDED)**: the predicted percentile must lie inside the
  measured percentile's 95 % bootstrap interval widened by ``relative`` (default 25 %) on both sides. A local run
  holds tens to hundreds of syncs, so its p99 is close to its maximum and moves by tens of percent between
  identical runs: a fixed band would be flaky on small runs and lax on large ones; the bootstrap interval
  shrinks as the run grows. The extra 25 % is the model error we accept: the simulator has no SQS long-poll
  delay, no per-process contention among pollers (one Python process, the GIL, a shared connection pool) and
  models a batch as a fixed overhead plus independent per-job times (fitted by least squares on batch size).
- **Queue depth over time**: the mean absolute difference between the measured samples (SQS's approximate
  visible + delayed count every ``sample_interval_s``) and the prediction at the same instants must be at most
  ``max(depth_abs, depth_relative x measured peak)`` (defaults 2 messages, 25 %). The measured count is itself
  approximate and sampled, with its clock offset from the jobs' by up to a sampling interval; two messages is
  below one batch and cannot hide a backlog; at high load the relative part takes over.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sim.queueing.config import FixedPool, ProviderBucket, QueueSimConfig, ServiceTime
from sim.queueing.fast import simulate
from sim.queueing.measured import MeasuredRun, reconstruct_service_times
from sim.queueing.result import QueueSimResult

PERCENTILES = (50.0, 95.0, 99.0)
JUDGED_PERCENTILES = (95.0, 99.0)
BOOTSTRAP_SAMPLES = 2000
MIN_JOBS = 5  # fewer succeeded syncs cannot give a percentile worth judging


@dataclass(frozen=True)
class Tolerance:
    relative: float = 0.25  # widening of the measured percentile's bootstrap interval
    depth_abs: float = 2.0  # messages
    depth_relative: float = 0.25  # of the measured peak depth
    confidence: float = 0.95


@dataclass(frozen=True)
class PercentileCheck:
    percentile: float
    measured_s: float
    interval_s: tuple[float, float]  # measured bootstrap interval
    allowed_s: tuple[float, float]  # interval widened by the tolerance
    predicted_s: float
    predicted_range_s: tuple[float, float]  # min and max over the replications
    passed: bool


@dataclass(frozen=True)
class DepthCheck:
    mean_abs_error: float
    allowed: float
    measured_peak: float
    predicted_peak: float
    passed: bool


@dataclass
class ValidationReport:
    run_dir: str
    passed: bool
    tolerance: Tolerance
    jobs: int
    succeeded_measured: int
    succeeded_predicted: int
    worker_concurrency: int
    batch_size: int
    service_ms: dict[str, float]  # reconstructed per-job service time: mean, p50, p95; per-batch overhead
    batches: int
    mean_batch_size: float
    latency: list[PercentileCheck]
    latency_measured_s: dict[str, float]
    latency_predicted_s: dict[str, float]
    depth: DepthCheck
    series_time_s: list[float]  # measured sample instants
    series_measured: list[float]
    series_predicted: list[float]
    replications: int
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, **asdict(self)}


def validate_run(run: MeasuredRun, *, tolerance: Tolerance = Tolerance(), replications: int = 20,
                 seed: int = 1, sample_interval_s: float = 0.5) -> ValidationReport:
    batches = reconstruct_service_times(run)
    config = replay_config(run, ServiceTime.empirical(batches.per_job_ms), sample_interval_s, seed,
                           overhead_ms=batches.overhead_ms)
    results = [simulate(_with_seed(config, seed + i), run.arrivals_s) for i in range(replications)]
    measured_e2e = run.end_to_end_s[run.end_to_end_s >= 0]
    predicted = [r.end_to_end_s[r.end_to_end_s >= 0].astype(np.float64) for r in results]
    checks = [check_percentile(measured_e2e, [p for p in predicted], q, tolerance, seed) for q in JUDGED_PERCENTILES]
    series = [_depth_at(r, run.queue_time_s) for r in results]
    median_series = np.median(np.vstack(series), axis=0) if series and run.queue_time_s.size else np.zeros(0)
    depth = check_depth(run.queue_depth, median_series, tolerance)
    notes = [
        "service times are from the worker's records: each batch runs from its receive (the jobs' startedAt) to "
        "its completion" if batches.recorded else
        "service times are reconstructed from batch completions (this run's job items have no startedAt): each "
        "batch starts when its last job was enqueued or a poller came free, so they include SQS's delivery delay",
        "the simulated pool is fixed at the pollers the workers reported; token buckets and failures are not "
        "simulated (their time is inside the measured service times)",
    ]
    if run.worker.concurrency <= 0:
        notes.append("no worker reported its concurrency: the simulation used a single poller")
    return ValidationReport(
        run_dir=str(run.run_dir),
        passed=all(c.passed for c in checks) and depth.passed,
        tolerance=tolerance,
        jobs=int(run.arrivals_s.size),
        succeeded_measured=run.succeeded,
        succeeded_predicted=int(np.median([r.succeeded for r in results])),
        worker_concurrency=run.worker.concurrency,
        batch_size=run.worker.batch_size,
        service_ms={"mean": float(batches.per_job_ms.mean()), "p50": float(np.percentile(batches.per_job_ms, 50)),
                    "p95": float(np.percentile(batches.per_job_ms, 95)), "batch_overhead": batches.overhead_ms},
        batches=int(batches.sizes.size),
        mean_batch_size=float(batches.sizes.mean()),
        latency=checks,
        latency_measured_s=_percentiles(measured_e2e),
        latency_predicted_s={k: float(np.median([_percentiles(p)[k] for p in predicted])) for k in _keys()},
        depth=depth,
        series_time_s=run.queue_time_s.tolist(),
        series_measured=run.queue_depth.tolist(),
        series_predicted=median_series.tolist(),
        replications=replications,
        notes=notes,
    )


def replay_config(run: MeasuredRun, service: ServiceTime, sample_interval_s: float, seed: int,
                  overhead_ms: float = 0.0) -> QueueSimConfig:
    return QueueSimConfig(
        invocation_overhead_ms=overhead_ms,
        pool=FixedPool(max(run.worker.concurrency, 1)),
        batch_size=max(run.worker.batch_size, 1),
        service=service,
        providers=(ProviderBucket("measured", 1.0, rate_per_s=float("inf")),),
        sample_interval_s=sample_interval_s,
        seed=seed,
    )


def check_percentile(measured: np.ndarray, predicted_runs: list[np.ndarray], percentile: float,
                     tolerance: Tolerance, seed: int) -> PercentileCheck:
    """Does the predicted percentile (median over replications) fall in the widened measured interval?"""
    if measured.size < MIN_JOBS:
        raise ValueError(f"only {measured.size} syncs succeeded in the measured run; at least {MIN_JOBS} are needed")
    value = float(np.percentile(measured, percentile))
    low, high = bootstrap_interval(measured, percentile, tolerance.confidence, seed)
    allowed = (low * (1.0 - tolerance.relative), high * (1.0 + tolerance.relative))
    per_run = [float(np.percentile(p, percentile)) if p.size else float("inf") for p in predicted_runs]
    predicted = float(np.median(per_run))
    return PercentileCheck(percentile=percentile, measured_s=value, interval_s=(low, high), allowed_s=allowed,
                           predicted_s=predicted, predicted_range_s=(min(per_run), max(per_run)),
                           passed=allowed[0] <= predicted <= allowed[1])


def bootstrap_interval(values: np.ndarray, percentile: float, confidence: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng([seed, 0xB007])
    resampled = rng.choice(values, size=(BOOTSTRAP_SAMPLES, values.size), replace=True)
    estimates = np.percentile(resampled, percentile, axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def check_depth(measured: np.ndarray, predicted: np.ndarray, tolerance: Tolerance) -> DepthCheck:
    peak = float(measured.max()) if measured.size else 0.0
    allowed = max(tolerance.depth_abs, tolerance.depth_relative * peak)
    error = float(np.mean(np.abs(measured - predicted))) if measured.size else 0.0
    return DepthCheck(mean_abs_error=error, allowed=allowed, measured_peak=peak,
                      predicted_peak=float(predicted.max()) if predicted.size else 0.0, passed=error <= allowed)


def _depth_at(result: QueueSimResult, times: np.ndarray) -> np.ndarray:
    """The simulated waiting messages (visible + delayed, as the sampler counts) at the measured instants."""
    series = result.series
    if series.time_s.size == 0:
        return np.zeros(times.size)
    waiting = (series.depth + series.delayed).astype(np.float64)
    index = np.searchsorted(series.time_s, times, side="right") - 1
    inside = (index >= 0) & (times <= result.end_s)  # before the first job and after the drain nothing waits
    return np.where(inside, waiting[np.clip(index, 0, None)], 0.0)


def _with_seed(config: QueueSimConfig, seed: int) -> QueueSimConfig:
    from dataclasses import replace

    return replace(config, seed=seed)


def _keys() -> list[str]:
    return [f"p{q:g}" for q in PERCENTILES]


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {k: float("nan") for k in _keys()}
    return {k: float(v) for k, v in zip(_keys(), np.percentile(values, PERCENTILES))}
