"""The invariants and probes as pure functions over evidence: they pass on a clean run and fail, with a reason
that says what broke, on each kind of damage."""
from __future__ import annotations

from typing import Any

from reports.recorder import LatencyRecorder, Outcome
from sim.chaos.invariants import (DeadLetter, Evidence, FaultRecord, dead_letter_after_exactly_5_receives,
                                  fast_failures_during, ledger, no_duplicate_writes, no_third_party_calls_during,
                                  throttling_never_dead_letters)
from sim.chaos.probes import ProbeInput, measure, phases_for
from sim.chaos.experiment import ProbeSpec


def evidence(**overrides: Any) -> Evidence:
    base: dict[str, Any] = dict(
        accepted=[("u1", "j1"), ("u2", "j2")],
        jobs={"j1": {"jobId": "j1", "status": "SUCCEEDED"},
              "j2": {"jobId": "j2", "status": "DEAD_LETTERED", "error": "TokenRevoked: strava 401"}},
        dead_letters=[DeadLetter("j2", 5, {"jobId": "j2"})],
        writes=[{"provider": "strava", "user_id": "a", "identity": "x"},
                {"provider": "strava", "user_id": "a", "identity": "y"}],
        series={"third_party_calls": [(t / 2, 10.0 if t < 20 else 10.0 + t) for t in range(60)]},
        recorder=LatencyRecorder(window_s=2.0),
        faults=[FaultRecord("redis-down", "redis_outage", 2.0, 9.0, applied_at_s=2.0, rolled_back_at_s=9.0)],
        drained=True)
    base.update(overrides)
    return Evidence(**base)


def test_ledger_accounts_for_every_accepted_job_and_names_the_lost_ones() -> None:
    assert ledger(evidence(), {}).passed
    lost = evidence(jobs={"j1": {"jobId": "j1", "status": "QUEUED"}, "j2": evidence().jobs["j2"]})
    result = ledger(lost, {})
    assert not result.passed and "1 of 2" in result.detail and "QUEUED" in result.detail
    no_reason = evidence(jobs={"j1": evidence().jobs["j1"], "j2": {"jobId": "j2", "status": "DEAD_LETTERED"}})
    assert not ledger(no_reason, {}).passed  # in the DLQ but without a reason
    not_in_dlq = evidence(dead_letters=[])
    assert not ledger(not_in_dlq, {}).passed  # marked DEAD_LETTERED but the message is not in the DLQ
    assert not ledger(evidence(accepted=[]), {}).passed  # nothing measured is not a pass


def test_duplicate_destination_writes_fail() -> None:
    assert no_duplicate_writes(evidence(), {}).passed
    doubled = evidence(writes=evidence().writes + [{"provider": "strava", "user_id": "a", "identity": "x"}])
    result = no_duplicate_writes(doubled, {})
    assert not result.passed and result.figures["duplicated"] == 1


def test_third_party_calls_inside_the_fault_window_fail() -> None:
    clean = evidence()  # counter flat until t = 10 s, fault 2-9 s
    assert no_third_party_calls_during(clean, {"fault": "redis-down"}).passed
    busy = evidence(series={"third_party_calls": [(t / 2, float(t)) for t in range(60)]})
    result = no_third_party_calls_during(busy, {"fault": "redis-down"})
    assert not result.passed and "third-party calls" in result.detail
    never = evidence(faults=[FaultRecord("redis-down", "redis_outage", 2.0, 9.0, error="boom")])
    assert not no_third_party_calls_during(never, {"fault": "redis-down"}).passed


def test_dead_letters_must_take_exactly_five_receives() -> None:
    assert dead_letter_after_exactly_5_receives(evidence(), {}).passed
    early = evidence(dead_letters=[DeadLetter("j2", 3, {})])
    assert not dead_letter_after_exactly_5_receives(early, {}).passed
    assert not dead_letter_after_exactly_5_receives(evidence(dead_letters=[]), {}).passed


def test_throttling_reasons_in_the_dlq_fail() -> None:
    assert throttling_never_dead_letters(evidence(), {}).passed
    throttled = evidence(jobs={"j9": {"jobId": "j9", "status": "DEAD_LETTERED", "error": "strava 429 rate limited"}})
    assert not throttling_never_dead_letters(throttled, {}).passed
    assert not throttling_never_dead_letters(evidence(), {"expect_empty_dlq": True}).passed


def _recorder(latency_s: float, status: int) -> LatencyRecorder:
    recorder = LatencyRecorder(window_s=2.0)
    for at in range(0, 20):
        latency = latency_s if 4 <= at < 8 else 0.05
        recorder.record_request("GET /v1/connections", float(at), float(at), at + latency,
                                Outcome.from_status(status if 4 <= at < 8 else 200))
    return recorder


def test_fast_failures_and_phase_probes_read_the_load_windows() -> None:
    fault = [FaultRecord("ddb-down", "aws_outage", 4.0, 8.0, applied_at_s=4.0, rolled_back_at_s=8.0)]
    fast = evidence(recorder=_recorder(0.1, 503), faults=fault)
    assert fast_failures_during(fast, {"fault": "ddb-down", "p99_ms_max": 1000}).passed
    slow = evidence(recorder=_recorder(4.0, 503), faults=fault)
    result = fast_failures_during(slow, {"fault": "ddb-down", "p99_ms_max": 1000})
    assert not result.passed and "not fast" in result.detail
    phases = phases_for([(4.0, 8.0)], 20.0, 2.0)
    data = ProbeInput(slow.recorder, {})
    spec = ProbeSpec("api_p99_ms", max=500)
    assert measure(spec, "before", phases, data).passed
    assert not measure(spec, "during", phases, data).passed
    assert measure(spec, "after", phases, data).passed
