"""The jobs both engines simulate: arrival times plus each job's provider and whether it is poisoned.

Both engines draw these from the same seeded stream, so the fast engine and the SimPy oracle see the same jobs
and differ only in the draws made while simulating (service times, backoff jitter, transient failures).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.queueing.arrivals import ArrivalProfile, poisson_arrivals
from sim.queueing.config import QueueSimConfig

Arrivals = np.ndarray | ArrivalProfile


@dataclass(frozen=True)
class JobSet:
    arrivals: np.ndarray  # sorted float64 seconds
    provider: np.ndarray  # int8 index into config.providers
    poisoned: np.ndarray  # bool: fails non-transiently on every receive


def make_jobs(config: QueueSimConfig, arrivals: Arrivals) -> JobSet:
    if isinstance(arrivals, ArrivalProfile):
        times = poisson_arrivals(arrivals, config.seed)
    else:
        times = np.ascontiguousarray(arrivals, dtype=np.float64)
        if times.ndim != 1:
            raise ValueError("an arrival trace must be a 1-D array of times")
        if times.size and (not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0)):
            raise ValueError("an arrival trace must be finite and sorted")
    # A separate stream from the arrivals' so the same profile gives the same times whatever the job mix.
    rng = np.random.default_rng([config.seed, 0x5EED])
    cumulative = np.cumsum(config.provider_shares)
    cumulative[-1] = 1.0
    provider = np.searchsorted(cumulative, rng.random(times.size), side="right").astype(np.int8)
    np.minimum(provider, len(config.providers) - 1, out=provider)
    if config.non_transient_failure_prob > 0:
        poisoned = rng.random(times.size) < config.non_transient_failure_prob
    else:
        poisoned = np.zeros(times.size, dtype=bool)
    return JobSet(times, provider, poisoned)
