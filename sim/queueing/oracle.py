"""``simulate_simpy``: the same system written plainly as a SimPy process model, used as the test oracle.

It shares only the job set and the config with the fast engine; queue, scaler, batches, token buckets and
redeliveries are written independently here (SimPy processes and a deque), with Python's own RNG, so an
agreement between the two is evidence that the fast engine's bookkeeping is right.
"""
from __future__ import annotations

import math
import random
import time
from collections import deque

import numpy as np
import simpy

from sim.queueing.config import LambdaScaling, QueueSimConfig
from sim.queueing.jobs import Arrivals, JobSet, make_jobs
from sim.queueing.result import QueueSimResult, TimeSeries


def simulate_simpy(config: QueueSimConfig, arrivals: Arrivals) -> QueueSimResult:
    """Same contract as ``sim.queueing.simulate``; slow (tens of microseconds per job), for small inputs."""
    started = time.perf_counter()
    model = _HotPathModel(config, make_jobs(config, arrivals))
    model.run()
    result = model.result()
    result.wall_time_s = time.perf_counter() - started
    return result


def simulate_simpy_jobs(config: QueueSimConfig, jobs: JobSet) -> QueueSimResult:
    """``simulate_simpy`` on a job set already drawn (``make_jobs``), for a like-for-like engine comparison."""
    started = time.perf_counter()
    model = _HotPathModel(config, jobs)
    model.run()
    result = model.result()
    result.wall_time_s = time.perf_counter() - started
    return result


class _HotPathModel:
    def __init__(self, config: QueueSimConfig, jobs: JobSet) -> None:
        self.config = config
        self.jobs = jobs
        n = jobs.arrivals.size
        self.start = float(jobs.arrivals[0]) if n else 0.0
        self.env = simpy.Environment(initial_time=self.start)
        self.rng = random.Random(config.seed * 1_000_003 + 17)
        self.queue: deque[int] = deque()
        self.wake = self.env.event()
        pool = config.pool
        self.lambda_mode = isinstance(pool, LambdaScaling)
        self.limit = float(min(pool.initial_concurrency, pool.max_concurrency)) if isinstance(pool, LambdaScaling) else float(pool.workers)
        self.max_limit_seen = self.limit
        self.busy = 0
        self.in_batches = 0
        self.delayed = 0
        self.resolved = 0
        self.delivered = 0
        self.all_resolved = self.env.event()
        self.tokens = [p.burst for p in config.providers]
        self.token_time = [self.start for _ in config.providers]
        self.sqs_count = [0] * n
        self.refusal_count = [0] * n
        self.wait = np.full(n, -1.0, dtype=np.float32)
        self.e2e = np.full(n, -1.0, dtype=np.float32)
        self.receives = np.zeros(n, dtype=np.int16)
        self.outcome = np.zeros(n, dtype=np.int8)
        self.refusals_by_provider = [0] * len(config.providers)
        self.counts = {"receives": 0, "refusals": 0, "failures": 0, "invocations": 0, "succeeded": 0, "dlq": 0, "dlq_refusal": 0}
        self.billed_ms = 0.0
        self.busy_s = 0.0
        self.max_depth = 0
        self.max_busy = 0
        self.interval_depth_max = 0
        self.interval_busy_max = 0
        self.samples: list[tuple[float, int, int, int, int, int, float]] = []

    # --- processes -------------------------------------------------------------------------------------
    def run(self) -> None:
        if self.jobs.arrivals.size == 0:
            return
        self.env.process(self._arrivals())
        self.env.process(self._dispatcher())
        if self.lambda_mode:  # before the sampler, so a sample at a tick sees the tick's decision
            self.env.process(self._scaler())
        self.env.process(self._sampler())
        horizon = self.config.effective_horizon(self.jobs.arrivals)
        give_up = self.env.timeout(max(horizon - self.env.now, 0.0))
        self.env.run(until=self.all_resolved | give_up)

    def _arrivals(self):
        for job, at in enumerate(self.jobs.arrivals.tolist()):
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            self.delivered += 1
            self._make_visible(job)

    def _dispatcher(self):
        while True:
            depth = len(self.queue)
            self.max_depth = max(self.max_depth, depth)
            self.interval_depth_max = max(self.interval_depth_max, depth)
            while self.queue and self.busy < math.floor(self.limit):
                batch = [self.queue.popleft() for _ in range(min(self.config.batch_size, len(self.queue)))]
                self.busy += 1
                self.max_busy = max(self.max_busy, self.busy)
                self.interval_busy_max = max(self.interval_busy_max, self.busy)
                self.env.process(self._invocation(batch))
            self.wake = self.env.event()
            yield self.wake

    def _scaler(self):
        pool = self.config.pool
        assert isinstance(pool, LambdaScaling)
        while True:
            yield self.env.timeout(pool.tick_s)
            if self.queue:
                self.limit = min(float(pool.max_concurrency), self.limit + pool.scale_up_per_minute * pool.tick_s / 60.0)
            else:
                self.limit = max(float(pool.initial_concurrency), self.limit - pool.scale_down_per_minute * pool.tick_s / 60.0)
            self.max_limit_seen = max(self.max_limit_seen, self.limit)
            self._kick()

    def _sampler(self):
        while True:
            yield self.env.timeout(self.config.sample_interval_s)
            depth = len(self.queue)
            self.interval_depth_max = max(self.interval_depth_max, depth)
            self.samples.append(
                (self.env.now, depth, self.interval_depth_max, self.delayed, self.busy, max(self.interval_busy_max, self.busy), self.limit)
            )
            self.interval_depth_max = depth
            self.interval_busy_max = self.busy

    def _invocation(self, batch: list[int]):
        config = self.config
        start = self.env.now
        duration = config.invocation_overhead_ms / 1000.0
        done: list[tuple[int, bool]] = []
        self.in_batches += len(batch)
        for job in batch:
            self.counts["receives"] += 1
            self.receives[job] += 1
            self.sqs_count[job] += 1
            if self.wait[job] < 0:
                self.wait[job] = start - self.jobs.arrivals[job]
            provider = int(self.jobs.provider[job])
            if self._take_token(provider, start):
                duration += self._service_time()
                failed = bool(self.jobs.poisoned[job]) or (
                    config.transient_failure_prob > 0 and self.rng.random() < config.transient_failure_prob
                )
                done.append((job, failed))
                continue
            self.counts["refusals"] += 1
            self.refusals_by_provider[provider] += 1
            duration += config.refusal_ms / 1000.0
            ceiling = min(config.backoff_cap_s, config.backoff_base_s * 2.0 ** min(self.refusal_count[job], 60))
            self.refusal_count[job] += 1
            if config.refusal_requeue == "resend":
                self.sqs_count[job] = 0
            self.in_batches -= 1
            self._return_later(job, self.rng.random() * ceiling, by_refusal=True)
        self.counts["invocations"] += 1
        self.billed_ms += math.ceil(duration * 1000.0 - 1e-9)
        self.busy_s += duration
        yield self.env.timeout(duration)
        self.busy -= 1
        for job, failed in done:
            self.in_batches -= 1
            if not failed:
                self.counts["succeeded"] += 1
                self.outcome[job] = 1
                self.e2e[job] = self.env.now - self.jobs.arrivals[job]
                self._resolve()
                continue
            self.counts["failures"] += 1
            self._return_later(job, max(start + config.visibility_timeout_s - self.env.now, 0.0), by_refusal=False)
        self._kick()

    # --- helpers ---------------------------------------------------------------------------------------
    def _take_token(self, provider: int, now: float) -> bool:
        bucket = self.config.providers[provider]
        if not math.isfinite(bucket.rate_per_s):
            return True
        elapsed = now - self.token_time[provider]
        if elapsed > 0:
            self.tokens[provider] = min(bucket.burst, self.tokens[provider] + elapsed * bucket.rate_per_s)
            self.token_time[provider] = now
        if self.tokens[provider] >= 1.0:
            self.tokens[provider] -= 1.0
            return True
        return False

    def _service_time(self) -> float:
        service = self.config.service
        if service.empirical_ms is not None:
            return float(service.empirical_ms[self.rng.randrange(service.empirical_ms.size)]) / 1000.0
        return self.rng.lognormvariate(service.mu, service.sigma)

    def _return_later(self, job: int, delay: float, *, by_refusal: bool) -> None:
        """The job turns visible after ``delay``; SQS redrives it to the DLQ instead once its count is used up."""
        self.delayed += 1

        def reappear(_event: simpy.Event) -> None:
            self.delayed -= 1
            if self.sqs_count[job] >= self.config.max_receive_count:
                self.counts["dlq"] += 1
                if by_refusal:
                    self.counts["dlq_refusal"] += 1
                self.outcome[job] = 2
                self._resolve()
                return
            self._make_visible(job)

        self.env.timeout(delay).callbacks.append(reappear)

    def _make_visible(self, job: int) -> None:
        self.queue.append(job)
        self._kick()

    def _kick(self) -> None:
        if not self.wake.triggered:
            self.wake.succeed()

    def _resolve(self) -> None:
        self.resolved += 1
        if self.resolved == self.jobs.arrivals.size and not self.all_resolved.triggered:
            self.all_resolved.succeed()

    # --- output ----------------------------------------------------------------------------------------
    def result(self) -> QueueSimResult:
        config = self.config
        arrivals = self.jobs.arrivals
        horizon = config.effective_horizon(arrivals)
        n_arrived = int(np.searchsorted(arrivals, horizon, side="right"))
        breakdown = {
            "waiting": len(self.queue) + (n_arrived - self.delivered),
            "delayed": self.delayed,
            "in_running_batches": self.in_batches,
        }
        columns = list(zip(*self.samples)) if self.samples else [[] for _ in range(7)]
        series = TimeSeries(
            time_s=np.array(columns[0], dtype=np.float64),
            depth=np.array(columns[1], dtype=np.int64),
            depth_max=np.array(columns[2], dtype=np.int64),
            delayed=np.array(columns[3], dtype=np.int64),
            concurrency=np.array(columns[4], dtype=np.int64),
            concurrency_max=np.array(columns[5], dtype=np.int64),
            concurrency_limit=np.array(columns[6], dtype=np.float64),
        )
        return QueueSimResult(
            config=config,
            engine="simpy",
            arrivals=arrivals,
            wait_s=self.wait,
            end_to_end_s=self.e2e,
            receives_per_job=self.receives,
            outcome=self.outcome,
            n_arrived=n_arrived,
            succeeded=self.counts["succeeded"],
            dead_lettered=self.counts["dlq"],
            dead_lettered_by_refusal=self.counts["dlq_refusal"],
            in_flight_at_end=sum(breakdown.values()),
            receives=self.counts["receives"],
            refusals=self.counts["refusals"],
            refusals_by_provider={p.name: c for p, c in zip(config.providers, self.refusals_by_provider)},
            failed_receives=self.counts["failures"],
            invocations=self.counts["invocations"],
            billed_ms=self.billed_ms,
            busy_s=self.busy_s,
            max_queue_depth=self.max_depth,
            max_concurrency=self.max_busy,
            max_concurrency_limit=self.max_limit_seen,
            start_s=self.start,
            end_s=float(self.env.now),
            series=series,
            in_flight_breakdown=breakdown,
        )
