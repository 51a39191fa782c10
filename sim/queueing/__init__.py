"""Fast queueing simulator of the SyncWell hot path: API -> SQS standard queue (DLQ after 5 receives) ->
worker Lambdas in batches of 10 -> third-party providers behind per-provider token buckets.

``simulate`` is the fast engine (numba-compiled event loop, a batch as the unit of work);
``simulate_simpy`` is a plain SimPy model of the same system used as the test oracle. Both take a
``QueueSimConfig`` and either a sorted array of arrival times (a trace) or an ``ArrivalProfile`` (rates per
bucket, expanded to Poisson arrivals with ``config.seed``), and return a ``QueueSimResult``.
See ``sim/queueing/README.md`` for the model's exact semantics.
"""
from sim.queueing.arrivals import (
    TRAFFIC_MODELS,
    ArrivalProfile,
    SyncTrafficModel,
    diurnal_profile,
    poisson_arrivals,
)
from sim.queueing.config import (
    CostRates,
    FixedPool,
    LambdaScaling,
    ProviderBucket,
    QueueSimConfig,
    ServiceTime,
)
from sim.queueing.fast import simulate, warm_up
from sim.queueing.oracle import simulate_simpy
from sim.queueing.result import QueueSimResult, QueueSimSummary, TimeSeries

__all__ = [
    "TRAFFIC_MODELS",
    "ArrivalProfile",
    "CostRates",
    "FixedPool",
    "LambdaScaling",
    "ProviderBucket",
    "QueueSimConfig",
    "QueueSimResult",
    "QueueSimSummary",
    "ServiceTime",
    "SyncTrafficModel",
    "TimeSeries",
    "diurnal_profile",
    "poisson_arrivals",
    "simulate",
    "simulate_simpy",
    "warm_up",
]
