"""What the queueing simulator is told: the worker pool, service times, token buckets, retries and prices.

Every number that comes from the design documents says where; every number that does not is marked as an
assumption so a reader knows which knobs are evidence and which are guesses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Z95 = 1.6448536269514722  # standard normal quantile at 0.95: ties a lognormal's p95 to its median

RefusalRequeue = Literal["resend", "change_visibility"]


@dataclass(frozen=True)
class LambdaScaling:
    """The SQS event-source mapping's poller scaling (AWS Lambda docs, "Configuring scaling behavior for SQS").

    "When messages are available, Lambda starts processing five batches at a time with five concurrent
    invocations ... If messages are still available, Lambda increases the number of processes that are reading
    batches by up to 300 more instances per minute. The maximum number of batches that an event source mapping
    can process simultaneously is 1,000. When traffic is low, Lambda scales back the processing to five
    concurrent batches." ``max_concurrency`` is the mapping's MaximumConcurrency (2..1000).
    The scale-down speed is not documented: ``scale_down_per_minute`` is an assumption.
    """

    max_concurrency: int = 1000
    initial_concurrency: int = 5
    scale_up_per_minute: float = 300.0
    scale_down_per_minute: float = 300.0  # assumption: AWS documents no rate, only "scales back"
    tick_s: float = 1.0  # the scaler re-decides once a second (300/min becomes +5 per tick)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.initial_concurrency < 1:
            raise ValueError("concurrency limits must be >= 1")
        if self.tick_s <= 0 or self.scale_up_per_minute < 0 or self.scale_down_per_minute < 0:
            raise ValueError("scaling rates must be >= 0 and tick_s > 0")


@dataclass(frozen=True)
class FixedPool:
    """A fixed number of always-on workers (a Fargate service, or provisioned concurrency with no scaling)."""

    workers: int

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("a fixed pool needs at least one worker")


WorkerPool = LambdaScaling | FixedPool


@dataclass(frozen=True)
class ServiceTime:
    """Time one sync job takes inside a worker once it holds a provider token.

    A batch's duration is the sum of its jobs' times (the worker processes a batch sequentially), so the
    seed's "1.5 s avg duration" for a batch of 10 (004 §3: 580 syncs/s * 1.5 s / 10 = ~87 workers) is
    ~150 ms per job. Lognormal from a median and a p95 (defaults 130 ms / 300 ms give a mean of ~148 ms), or
    an empirical distribution resampled from measured job times (``empirical_ms``), which wins when given.
    """

    median_ms: float = 130.0
    p95_ms: float = 300.0
    empirical_ms: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.empirical_ms is not None:
            samples = np.asarray(self.empirical_ms, dtype=np.float64)
            if samples.ndim != 1 or samples.size == 0 or np.any(samples < 0) or not np.all(np.isfinite(samples)):
                raise ValueError("empirical service times must be a non-empty 1-D array of finite values >= 0")
            object.__setattr__(self, "empirical_ms", samples)
            return
        if not (0 < self.median_ms <= self.p95_ms):
            raise ValueError("service time needs 0 < median <= p95")

    @property
    def mu(self) -> float:
        """Log-space mean of the lognormal, in log-seconds."""
        return math.log(self.median_ms / 1000.0)

    @property
    def sigma(self) -> float:
        return math.log(self.p95_ms / self.median_ms) / Z95

    @property
    def mean_s(self) -> float:
        if self.empirical_ms is not None:
            return float(np.mean(self.empirical_ms)) / 1000.0
        return math.exp(self.mu + self.sigma**2 / 2.0)

    @classmethod
    def fit_lognormal(cls, samples_ms: np.ndarray) -> ServiceTime:
        """Fit a lognormal to measured job times (maximum likelihood in log space) and express it as median/p95."""
        values = np.asarray(samples_ms, dtype=np.float64)
        values = values[values > 0]
        if values.size < 2:
            raise ValueError("need at least two positive samples to fit a lognormal")
        logs = np.log(values)
        mu, sigma = float(logs.mean()), float(logs.std(ddof=1))
        return cls(median_ms=math.exp(mu), p95_ms=math.exp(mu + Z95 * sigma))

    @classmethod
    def empirical(cls, samples_ms: np.ndarray) -> ServiceTime:
        return cls(empirical_ms=np.asarray(samples_ms, dtype=np.float64))


@dataclass(frozen=True)
class ProviderBucket:
    """One provider's share of sync jobs and its Redis token bucket (one token per job's third-party call).

    ``rate_per_s`` is the refill rate; ``math.inf`` means the provider never refuses. The default rates are an
    assumption (partner-tier limits are not in the seeds): 1,000/s each, above every scenario's peak share
    (Aggressive at 1M DAU peaks at ~1,850 syncs/s, 004 §2), so refusals appear only when a run sets tighter
    buckets.
    """

    name: str
    share: float
    rate_per_s: float = 1000.0
    burst: float = 2000.0

    def __post_init__(self) -> None:
        if self.share < 0 or self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError(f"provider {self.name}: share >= 0, rate > 0 and burst >= 1 are required")


DEFAULT_PROVIDERS: tuple[ProviderBucket, ...] = (
    # assumption: mix of the three providers SyncWell integrates (001); no share is given in the seeds
    ProviderBucket("fitbit", 0.4),
    ProviderBucket("strava", 0.3),
    ProviderBucket("garmin", 0.3),
)


@dataclass(frozen=True)
class CostRates:
    """Lambda prices and size, seed 004 §9: arm64 $0.00001333/GB-s, $0.20/M invocations, 1024 MB (004 §3)."""

    memory_mb: int = 1024
    usd_per_gb_second: float = 0.00001333
    usd_per_million_requests: float = 0.20


@dataclass(frozen=True)
class QueueSimConfig:
    """The whole hot path: SQS standard queue -> Lambda workers in batches -> provider token buckets.

    ``refusal_requeue`` says how a token-bucket refusal returns the job to the queue:
    - ``"resend"`` (default): the worker deletes the message and sends it again with DelaySeconds carrying the
      attempt number, so a refusal never counts toward maxReceiveCount (refusals never dead-letter a job);
    - ``"change_visibility"``: the literal ChangeMessageVisibility of SYSTEM.md. SQS still counts that receive,
      so a job refused ``max_receive_count`` times goes to the DLQ although it never failed: the simulator
      counts those in ``dead_lettered_by_refusal`` to show the hazard.
    ``horizon_s`` None runs until every job has succeeded or been dead-lettered, or until ``max_drain_s``
    after the last arrival (a retry storm against a saturated token bucket can otherwise cycle for hours);
    whatever is left then is reported as in flight.
    """

    pool: WorkerPool = field(default_factory=LambdaScaling)
    batch_size: int = 10  # SQS event-source BatchSize default (SYSTEM.md: "batches of up to 10")
    service: ServiceTime = field(default_factory=ServiceTime)
    invocation_overhead_ms: float = 0.0  # assumption: per-invocation fixed cost (init, DynamoDB batch write)
    refusal_ms: float = 5.0  # assumption: a Redis check plus a ChangeMessageVisibility call
    providers: tuple[ProviderBucket, ...] = DEFAULT_PROVIDERS
    backoff_base_s: float = 1.0  # assumption: the seeds give the formula, not base or cap
    backoff_cap_s: float = 60.0  # assumption
    refusal_requeue: RefusalRequeue = "resend"
    max_receive_count: int = 5  # 001: redrive policy maxReceiveCount 5
    visibility_timeout_s: float = 30.0  # SQS default visibility timeout (assumption for the hot-path queue)
    non_transient_failure_prob: float = 0.0  # share of jobs that fail on every receive (401 revoked, 404, bug)
    transient_failure_prob: float = 0.0  # chance that one receive fails and the job is redriven
    horizon_s: float | None = None
    max_drain_s: float = 6 * 3600.0  # with horizon_s None: give up this long after the last arrival
    sample_interval_s: float = 60.0
    cost: CostRates = field(default_factory=CostRates)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError("batch_size must be 1..10000")
        if not self.providers or sum(p.share for p in self.providers) <= 0:
            raise ValueError("at least one provider with a positive share is required")
        if len(self.providers) > 127:
            raise ValueError("at most 127 providers")
        if self.max_receive_count < 1:
            raise ValueError("max_receive_count must be >= 1")
        for name in ("non_transient_failure_prob", "transient_failure_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0 or self.visibility_timeout_s < 0:
            raise ValueError("backoff and visibility times must be >= 0")
        if self.max_drain_s < 0:
            raise ValueError("max_drain_s must be >= 0")
        if self.sample_interval_s <= 0:
            raise ValueError("sample_interval_s must be > 0")
        if self.refusal_requeue not in ("resend", "change_visibility"):
            raise ValueError("refusal_requeue is 'resend' or 'change_visibility'")
        if self.invocation_overhead_ms < 0 or self.refusal_ms < 0:
            raise ValueError("overheads must be >= 0")

    def effective_horizon(self, arrivals: np.ndarray) -> float:
        """The time the simulation stops at, at the latest."""
        if self.horizon_s is not None:
            return float(self.horizon_s)
        last = float(arrivals[-1]) if arrivals.size else 0.0
        return last + self.max_drain_s

    @property
    def provider_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.providers)

    @property
    def provider_shares(self) -> np.ndarray:
        shares = np.array([p.share for p in self.providers], dtype=np.float64)
        return shares / shares.sum()
