"""Route 53 failover routing's state machines (stack.region.health)."""
from stack.region.health import FailoverRecord, HealthCheck


def test_an_endpoint_turns_unhealthy_after_threshold_consecutive_failures_only() -> None:
    check = HealthCheck(failure_threshold=3)
    assert [check.observe(False), check.observe(False), check.observe(True)] == [None, None, None]
    assert check.healthy
    assert [check.observe(False), check.observe(False), check.observe(False)] == [None, None, False]
    assert not check.healthy


def test_an_unhealthy_endpoint_needs_threshold_consecutive_successes_to_recover() -> None:
    check = HealthCheck(failure_threshold=2, healthy=False)
    assert check.observe(True) is None
    assert check.observe(False) is None
    assert check.observe(True) is None
    assert check.observe(True) is True


def test_failover_moves_the_answer_and_clients_follow_after_the_ttl() -> None:
    record = FailoverRecord(failback="automatic", ttl_s=60)
    record.answer.since = -1000
    assert record.decide(primary_healthy=False, secondary_healthy=True, now=100.0) == "failover"
    assert record.client_target(130.0) == "primary"      # cached answer
    assert record.client_target(160.0) == "secondary"


def test_automatic_failback_returns_when_the_primary_is_healthy() -> None:
    record = FailoverRecord(failback="automatic", ttl_s=0)
    record.decide(False, True, 1.0)
    assert record.decide(True, True, 2.0) == "failback"
    assert record.client_target(2.0) == "primary"


def test_manual_failback_stays_on_the_secondary_until_the_operator_acts() -> None:
    record = FailoverRecord(failback="manual", ttl_s=0)
    record.decide(False, True, 1.0)
    assert record.decide(True, True, 2.0) is None
    assert record.client_target(3.0) == "secondary"
    assert record.failback_now(primary_healthy=False, now=4.0) is None
    assert record.failback_now(primary_healthy=True, now=5.0) == "failback"
    assert record.client_target(5.0) == "primary"


def test_both_unhealthy_keeps_the_primary_and_an_unhealthy_secondary_sends_traffic_back() -> None:
    record = FailoverRecord(failback="manual", ttl_s=0)
    assert record.decide(False, False, 1.0) is None
    assert record.client_target(1.0) == "primary"
    record.decide(False, True, 2.0)
    assert record.decide(True, False, 3.0) == "failback"
