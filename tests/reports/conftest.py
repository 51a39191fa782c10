"""Synthetic run results for the pure report/gate tests (no Locust, no network)."""
from __future__ import annotations

import random
from typing import Callable

import pytest

from reports.recorder import LatencyRecorder, Outcome
from reports.result import RunInfo, RunResult


def build_result(latency_ms: Callable[[random.Random, float], float], *, rate: float = 50.0, seconds: float = 30.0,
                 endpoint: str = "GET /v1/connections", status: Callable[[int], int] = lambda i: 200,
                 window_s: float = 10.0, seed: int = 7, recorder: LatencyRecorder | None = None) -> RunResult:
    rng = random.Random(seed)
    recorder = recorder or LatencyRecorder(window_s)
    count = int(rate * seconds)
    for i in range(count):
        at = i / rate
        recorder.record_scheduled(at)
        latency = latency_ms(rng, at) / 1000.0
        recorder.record_request(endpoint, at, at + 0.0005, at + latency, Outcome.from_status(status(i)))
    info = RunInfo(target_url="http://127.0.0.1:1", started_at="2026-01-01T00:00:00.000+00:00", duration_s=seconds,
                   schedule_span_s=(count - 1) / rate, window_s=window_s, workers=0, pool_size=10,
                   late_threshold_ms=10.0, request_timeout_s=30.0)
    return RunResult(info, recorder)


@pytest.fixture
def make_result() -> Callable[..., RunResult]:
    return build_result


@pytest.fixture
def healthy_result() -> RunResult:
    return build_result(lambda rng, at: rng.uniform(5, 50))
