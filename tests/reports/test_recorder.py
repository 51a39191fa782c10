"""The recorder: latency from the scheduled start, per-window attribution, exact merges, lossless wire form."""
from __future__ import annotations

import random

from reports import histogram as hdr
from reports.recorder import LatencyRecorder, Outcome


def test_latency_is_measured_from_the_scheduled_start_and_lateness_is_counted() -> None:
    recorder = LatencyRecorder(window_s=10.0, late_threshold_s=0.010)
    # scheduled at 1.0 s, could only start at 1.5 s (pool exhausted), answered at 1.6 s
    recorder.record_request("GET /x", 1.0, 1.5, 1.6, Outcome.from_status(200))
    recorder.record_request("GET /x", 2.0, 2.001, 2.1, Outcome.from_status(200))
    histogram = recorder.endpoints["GET /x"].latency
    assert abs(hdr.percentile_ms(histogram, 100.0) - 600.0) < 1.0  # 0.6 s, not the 0.1 s of service time
    assert recorder.endpoints["GET /x"].counts.late_starts == 1
    assert abs(hdr.percentile_ms(recorder.start_lag, 100.0) - 500.0) < 1.0


def test_windows_key_latency_by_scheduled_time_and_starts_by_actual_time() -> None:
    recorder = LatencyRecorder(window_s=10.0)
    recorder.record_scheduled(9.9)
    recorder.record_request("GET /x", 9.9, 10.2, 21.0, Outcome.from_status(200))
    assert recorder.windows[0].scheduled == 1
    assert recorder.windows[0].endpoints["GET /x"].counts.requests == 1
    assert recorder.windows[1].started == 1
    assert recorder.windows[2].completed == 1


def test_outcome_classification() -> None:
    assert Outcome.from_status(204) == Outcome(204, False, False, None)
    assert Outcome.from_status(429).is_error and not Outcome.from_status(429).is_unavailable
    assert not Outcome.from_status(429, frozenset({429})).is_error
    assert Outcome.from_status(503).is_unavailable and Outcome.from_status(503).error_kind == "http_503"
    failure = Outcome.transport_failure("timeout")
    assert failure.status == 0 and failure.is_error and failure.is_unavailable


def _fill(recorder: LatencyRecorder, rng: random.Random, n: int, endpoint: str) -> None:
    for _ in range(n):
        at = rng.uniform(0, 60)
        status = 503 if rng.random() < 0.01 else 200
        recorder.record_scheduled(at)
        recorder.record_request(endpoint, at, at + rng.uniform(0, 0.02), at + rng.expovariate(10),
                                Outcome.from_status(status))
        recorder.record_named("manual_sync", at, rng.uniform(1, 20))


def test_merge_of_parts_equals_recording_everything_in_one() -> None:
    parts = [LatencyRecorder(10.0) for _ in range(3)]
    together = LatencyRecorder(10.0)
    for seed, part in enumerate(parts):
        _fill(part, random.Random(seed), 2000, f"GET /e{seed % 2}")
        _fill(together, random.Random(seed), 2000, f"GET /e{seed % 2}")
    merged = LatencyRecorder(10.0)
    for part in parts:
        merged.merge(LatencyRecorder.from_wire(part.to_wire()))  # through the wire form, as workers send it
    assert merged.totals() == together.totals()
    assert merged.scheduled == together.scheduled == 6000
    for name in together.endpoints:
        assert hdr.summarize(merged.endpoints[name].latency) == hdr.summarize(together.endpoints[name].latency)
    assert hdr.summarize(merged.named["manual_sync"]) == hdr.summarize(together.named["manual_sync"])
    assert merged.window_indices() == together.window_indices()
    for index in together.window_indices():
        mine, theirs = merged.windows[index], together.windows[index]
        assert (mine.scheduled, mine.started, mine.completed) == (theirs.scheduled, theirs.started, theirs.completed)
        for name, recording in theirs.endpoints.items():
            assert hdr.summarize(mine.endpoints[name].latency) == hdr.summarize(recording.latency)
    assert merged.errors_by_kind == together.errors_by_kind


def test_wire_round_trip_is_lossless() -> None:
    recorder = LatencyRecorder(5.0, 0.02)
    _fill(recorder, random.Random(3), 500, "POST /v1/sync-jobs")
    again = LatencyRecorder.from_wire(recorder.to_wire())
    assert again.to_wire() == recorder.to_wire()


def test_percentiles_are_accurate_to_hdr_precision() -> None:
    recorder = LatencyRecorder(10.0)
    values = [i / 1000.0 for i in range(1, 10001)]  # 1 ms .. 10 s
    for v in values:
        recorder.record_request("GET /x", 0.0, 0.0, v, Outcome.from_status(200))
    p99 = hdr.percentile_ms(recorder.endpoints["GET /x"].latency, 99.0)
    assert abs(p99 - 9900.0) / 9900.0 < 0.001  # 3 significant digits
