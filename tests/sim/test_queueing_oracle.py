"""The fast engine agrees with the SimPy oracle on small inputs, within statistical error, over several seeds.

The two engines share only the job set (arrivals, provider, poisoned flag); service times, backoff jitter and
transient failures come from different random streams, so single runs differ and the comparison is on means
over seeds. Tolerances are a few times the seed-to-seed spread seen while building them; the bug they were
written to catch (refused jobs not counted toward the batch size) moved invocations by 2x.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pytest

from sim.queueing import (
    ArrivalProfile,
    FixedPool,
    LambdaScaling,
    ProviderBucket,
    QueueSimConfig,
    QueueSimResult,
    simulate,
    simulate_simpy,
)

SEEDS = (11, 12, 13, 14)
# A five-minute ramp up and down: the pool or the scaler has to catch up, so queues actually form.
RAMP = ArrivalProfile(np.array([15.0, 45.0, 90.0, 45.0, 15.0]), 60.0)


@dataclass(frozen=True)
class Metric:
    name: str
    read: Callable[[QueueSimResult], float]
    rel: float  # tolerance relative to the oracle's mean
    abs: float  # floor, for metrics near zero


def mean_wait(r: QueueSimResult) -> float:
    return r.to_summary()["wait"]["mean_s"]


def p95_e2e(r: QueueSimResult) -> float:
    return r.to_summary()["end_to_end"]["p95_s"]


COMMON = (
    Metric("mean wait", mean_wait, 0.15, 0.02),
    Metric("p95 end-to-end", p95_e2e, 0.10, 0.05),
    Metric("invocations", lambda r: r.invocations, 0.05, 10),
    Metric("mean concurrency", lambda r: r.to_summary()["mean_concurrency"], 0.05, 0.1),
)


# The largest backlog is a stable statistic when the backlog is long (thousands), a noisy one otherwise.
MAX_DEPTH = Metric("max queue depth", lambda r: r.max_queue_depth, 0.15, 10)


def compare(config: QueueSimConfig, metrics: tuple[Metric, ...]) -> None:
    fast_runs, oracle_runs = [], []
    for seed in SEEDS:
        seeded = replace(config, seed=seed)
        fast_runs.append(simulate(seeded, RAMP))
        oracle_runs.append(simulate_simpy(seeded, RAMP))
    failures = []
    for metric in metrics:
        fast = float(np.mean([metric.read(r) for r in fast_runs]))
        oracle = float(np.mean([metric.read(r) for r in oracle_runs]))
        allowed = max(metric.rel * abs(oracle), metric.abs)
        if abs(fast - oracle) > allowed:
            failures.append(f"{metric.name}: fast {fast:.4g} vs simpy {oracle:.4g} (allowed +-{allowed:.3g})")
    assert not failures, "; ".join(failures)


def test_fixed_pool_under_overload_agrees() -> None:
    # 12 workers * 10 jobs/batch: saturated at the ramp's top, a backlog of thousands builds and drains.
    compare(QueueSimConfig(pool=FixedPool(12)), COMMON + (MAX_DEPTH,))


def test_lambda_scaling_with_failures_agrees() -> None:
    config = QueueSimConfig(
        pool=LambdaScaling(max_concurrency=15),
        non_transient_failure_prob=0.02,
        transient_failure_prob=0.03,
        visibility_timeout_s=10.0,
    )
    metrics = COMMON + (
        MAX_DEPTH,
        Metric("DLQ rate", lambda r: r.dlq_rate, 0.05, 0.001),
        Metric("failed receives", lambda r: r.failed_receives, 0.05, 20),
        Metric("max concurrency limit", lambda r: r.max_concurrency_limit, 0.0, 0.5),
    )
    compare(config, metrics)


@pytest.mark.parametrize("requeue", ["resend", "change_visibility"])
def test_token_bucket_refusals_agree(requeue: str) -> None:
    # One provider limited to 25 jobs/s while it gets up to 45/s: refusals, backoff and redeliveries dominate.
    config = QueueSimConfig(
        pool=FixedPool(12),
        providers=(ProviderBucket("tight", 0.5, 25.0, 20.0), ProviderBucket("free", 0.5, math.inf, 1.0)),
        refusal_requeue=requeue,  # type: ignore[arg-type]
        backoff_base_s=0.5,
        backoff_cap_s=20.0,
        sample_interval_s=5.0,
    )
    metrics = COMMON + (
        Metric("refusals", lambda r: r.refusals, 0.05, 50),
        Metric("mean delayed (retry backlog)", lambda r: float(r.series.delayed.mean()), 0.05, 5),
        Metric("DLQ rate", lambda r: r.dlq_rate, 0.15, 0.002),
    )
    compare(config, metrics)
