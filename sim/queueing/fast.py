"""``simulate``: the fast engine. Prepares arrays, runs the compiled kernel, wraps the output."""
from __future__ import annotations

import math
import time

import numpy as np

from sim.queueing import kernel as k
from sim.queueing.config import LambdaScaling, QueueSimConfig
from sim.queueing.jobs import Arrivals, JobSet, make_jobs
from sim.queueing.result import QueueSimResult, TimeSeries


def simulate(config: QueueSimConfig, arrivals: Arrivals) -> QueueSimResult:
    """Simulate the hot path for ``arrivals`` (a sorted array of times, or a rate profile expanded with
    ``config.seed``). Deterministic for a given config and input."""
    started = time.perf_counter()
    jobs = make_jobs(config, arrivals)
    result = _run(config, jobs)
    result.wall_time_s = time.perf_counter() - started
    return result


def simulate_jobs(config: QueueSimConfig, jobs: JobSet) -> QueueSimResult:
    """``simulate`` on a job set already drawn (``make_jobs``): what a like-for-like engine comparison times."""
    started = time.perf_counter()
    result = _run(config, jobs)
    result.wall_time_s = time.perf_counter() - started
    return result


def warm_up() -> None:
    """Compile (or load the cached compilation of) the kernel, so a timed run measures simulation only."""
    simulate(QueueSimConfig(sample_interval_s=1.0), np.array([0.0, 0.1, 0.2]))


def _service_pool(config: QueueSimConfig, n: int) -> np.ndarray:
    """One service time per job drawn ahead, vectorised (a draw inside the loop costs several times more);
    the kernel draws further ones itself when retries need more. Same distribution, its own seeded stream."""
    rng = np.random.default_rng([config.seed, 0x5E4])
    service = config.service
    if service.empirical_ms is not None:
        return service.empirical_ms[rng.integers(0, service.empirical_ms.size, size=n)] / 1000.0
    return rng.lognormal(service.mu, service.sigma, size=n)


def _run(config: QueueSimConfig, jobs: JobSet) -> QueueSimResult:
    n = jobs.arrivals.size
    pool = config.pool
    lambda_mode = isinstance(pool, LambdaScaling)
    if lambda_mode:
        initial, maximum = float(min(pool.initial_concurrency, pool.max_concurrency)), float(pool.max_concurrency)
        up = pool.scale_up_per_minute * pool.tick_s / 60.0
        down = pool.scale_down_per_minute * pool.tick_s / 60.0
        tick = pool.tick_s
    else:
        initial = maximum = float(pool.workers)
        up = down = 0.0
        tick = 1.0
    service = config.service
    if service.empirical_ms is not None:
        svc_kind, mu, sigma, samples = 1, 0.0, 0.0, service.empirical_ms / 1000.0
    else:
        svc_kind, mu, sigma, samples = 0, service.mu, service.sigma, np.zeros(1)
    rates = np.array([p.rate_per_s if math.isfinite(p.rate_per_s) else -1.0 for p in config.providers])
    bursts = np.array([p.burst for p in config.providers], dtype=np.float64)
    horizon = config.effective_horizon(jobs.arrivals)

    wait = np.full(n, -1.0, dtype=np.float32)
    e2e = np.full(n, -1.0, dtype=np.float32)
    receives = np.zeros(n, dtype=np.int16)
    outcome = np.zeros(n, dtype=np.int8)
    refusals_by_provider = np.zeros(len(config.providers), dtype=np.int64)
    counters, floats, *series = k.run_kernel(
        jobs.arrivals,
        jobs.provider,
        jobs.poisoned,
        lambda_mode,
        initial,
        maximum,
        up,
        down,
        tick,
        config.batch_size,
        svc_kind,
        mu,
        sigma,
        np.ascontiguousarray(samples, dtype=np.float64),
        _service_pool(config, n),
        config.invocation_overhead_ms / 1000.0,
        config.refusal_ms / 1000.0,
        rates,
        bursts,
        config.backoff_base_s,
        config.backoff_cap_s,
        config.refusal_requeue == "resend",
        config.max_receive_count,
        config.visibility_timeout_s,
        config.transient_failure_prob,
        horizon,
        config.sample_interval_s,
        config.seed,
        wait,
        e2e,
        receives,
        outcome,
        refusals_by_provider,
    )
    breakdown = {
        "waiting_new": int(counters[k.C_WAITING_NEW]),
        "waiting_redelivered": int(counters[k.C_WAITING_READY]),
        "delayed": int(counters[k.C_PENDING]),  # includes jobs the next receive will redrive
        "succeeding_after_horizon": int(counters[k.C_SUCCEEDED_AFTER_HORIZON]),
    }
    start = float(jobs.arrivals[0]) if n else 0.0
    in_flight = sum(breakdown.values())
    end = float(floats[k.F_END_TIME]) if config.horizon_s is None and in_flight == 0 else horizon
    return QueueSimResult(
        config=config,
        engine="fast",
        arrivals=jobs.arrivals,
        wait_s=wait,
        end_to_end_s=e2e,
        receives_per_job=receives,
        outcome=outcome,
        n_arrived=int(counters[k.C_ARRIVED]),
        succeeded=int(counters[k.C_SUCCEEDED]),
        dead_lettered=int(counters[k.C_DEAD_LETTERED]),
        dead_lettered_by_refusal=int(counters[k.C_DLQ_BY_REFUSAL]),
        in_flight_at_end=in_flight,
        receives=int(counters[k.C_RECEIVES]),
        refusals=int(counters[k.C_REFUSALS]),
        refusals_by_provider={p.name: int(c) for p, c in zip(config.providers, refusals_by_provider)},
        failed_receives=int(counters[k.C_FAILURES]),
        invocations=int(counters[k.C_INVOCATIONS]),
        billed_ms=float(floats[k.F_BILLED_MS]),
        busy_s=float(floats[k.F_BUSY_S]),
        max_queue_depth=int(counters[k.C_MAX_DEPTH]),
        max_concurrency=int(counters[k.C_MAX_BUSY]),
        max_concurrency_limit=float(floats[k.F_MAX_LIMIT]),
        start_s=start,
        end_s=end,
        series=TimeSeries(*series),
        in_flight_breakdown=breakdown,
    )
