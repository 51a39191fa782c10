"""Degraded modes through the running stack: Redis down (no third-party call, nothing lost, recovery) and
DynamoDB down (fast 503). These break their stack, so the module has its own."""
from __future__ import annotations

import time

from .helpers import (FAST_APPCONFIG, QUICK_FAKES, counter, fake_calls_for, health, job_status, poll, submit_sync,
                      wait_until_terminal)

SYNCWELL_STACK = {"users": 4, "appconfig": FAST_APPCONFIG, "fake_config": QUICK_FAKES}
REDIS_USER = 1  # garmin -> strava


def test_redis_down_means_no_third_party_call_no_loss_and_recovery_when_it_returns(syncwell_stack):
    stack = syncwell_stack
    user = stack.users[REDIS_USER]
    source, destination = (user.connection(user.pairs[0].source_provider),
                           user.connection(user.pairs[0].destination_provider))
    calls_before = (fake_calls_for(stack, source.provider, source.provider_user_id),
                    fake_calls_for(stack, destination.provider, destination.provider_user_id))
    third_party_before = counter(stack, "worker", "third_party_calls")
    stack.stop_process("redis")
    throttled_before = counter(stack, "worker", "throttled_delays")

    response = submit_sync(stack, user)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    # The worker picks the job up, finds no Redis (no token bucket), and puts it back: several times.
    poll(lambda: counter(stack, "worker", "throttled_delays") - throttled_before, lambda n: n >= 3, timeout_s=90)
    assert health(stack, "worker").get("redis_available") is False
    assert job_status(stack, user, job_id) in ("QUEUED", "RUNNING")
    assert counter(stack, "worker", "third_party_calls") == third_party_before
    assert (fake_calls_for(stack, source.provider, source.provider_user_id),
            fake_calls_for(stack, destination.provider, destination.provider_user_id)) == calls_before

    stack.restart_process("redis")

    assert wait_until_terminal(stack, user, job_id, timeout_s=120) == "SUCCEEDED"
    assert fake_calls_for(stack, source.provider, source.provider_user_id) > calls_before[0]


def test_dynamodb_down_makes_the_api_answer_503_quickly(syncwell_stack):
    stack = syncwell_stack
    user = stack.users[0]
    stack.stop_process("moto-dynamodb")
    started = time.monotonic()
    response = submit_sync(stack, user)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert elapsed < 3.0, f"the API took {elapsed:.2f} s to say DynamoDB is unavailable"
    assert response.headers.get("Retry-After")
