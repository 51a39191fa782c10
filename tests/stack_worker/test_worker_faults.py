"""Failure modes of the worker over real HTTP: revoked grants, throttling (bucket, provider 429, Redis down),
Secrets Manager outages, OAuth refresh with rotation."""
from __future__ import annotations

import collections
import json
import time
import uuid

import httpx

from stack import schema
from stack.bootstrap import local_app_secret

from .harness import wait_for
from .test_worker_happy import _new_pair, _source_count, _writes


def _assert_exactly_once(strava, src_user, dst_user) -> None:
    writes = _writes(strava, dst_user)
    assert len(writes) == _source_count(strava, src_user)
    assert max(collections.Counter(w["external_id"] for w in writes).values()) == 1


def test_revoked_token_dead_letters_after_five_receives_and_marks_needs_reauth(make_stack, strava):
    stack = make_stack()
    user_id, src, dst, src_user, _ = _new_pair(stack, strava)
    strava.control.revoke(src_user["user_id"], notify=False)
    worker = stack.start_worker()
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    wait_for(lambda: stack.queue_depth(stack.dlq_url) == 1, 60, what="the job in the DLQ")
    job = stack.wait_job(user_id, job_id, ("DEAD_LETTERED",))
    assert "revoked" in job["error"] or "needs_reauth" in job["error"]
    counters = worker.counters.snapshot()
    assert counters["retried"] == 5 and counters["dead_lettered"] == 1 and counters["succeeded"] == 0
    connection = stack.get(schema.user_pk(user_id), schema.connection_sk(src))
    assert connection["status"] == "needs_reauth" and connection["ReAuthStatus"] == "NEEDS_REAUTH"
    dead = stack.drain(stack.dlq_url)
    assert [json.loads(m["Body"])["jobId"] for m in dead] == [job_id]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 5


def test_expired_token_is_refreshed_and_rotated_token_stored_back(make_stack, strava):
    stack = make_stack()
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    name = schema.connection_secret_name(user_id, src)
    expired = {**stack.tokens(user_id, src), "expiresAt": int(time.time()) - 10}
    stack.sm.put_secret_value(SecretId=name, SecretString=json.dumps(expired))
    worker = stack.start_worker()
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    stack.wait_job(user_id, job_id)
    stored = stack.tokens(user_id, src)
    assert stored["refreshToken"] != src_user["refresh_token"] and stored["accessToken"] != src_user["access_token"]
    assert stored["expiresAt"] > time.time() + 3600
    assert worker.counters.snapshot()["token_refreshes"] == 1
    old = httpx.post(strava.url + "/oauth/token", data={"client_id": local_app_secret("strava")["clientId"],
                                                         "client_secret": "x",
                                                         "grant_type": "refresh_token",
                                                         "refresh_token": src_user["refresh_token"]})
    assert old.status_code == 400  # rotation: the old refresh token is refused, so storing the new one mattered
    _assert_exactly_once(strava, src_user, dst_user)


def test_empty_token_bucket_delays_without_failing(make_stack, strava):
    # 4 tokens per burst: a run lists source and destination, then hydrates and writes ONE item, and must
    # come back for the rest (2 + 2n calls in all), so throttling is certain and progress must survive it.
    stack = make_stack({"token_buckets": {"strava": {"rate_per_s": 2, "burst": 4}}})
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava, history_days=4)
    assert _source_count(strava, src_user) >= 2
    worker = stack.start_worker(concurrency=1)
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    stack.wait_job(user_id, job_id, timeout=150)
    counters = worker.counters.snapshot()
    assert counters["throttled_delays"] >= 1 and counters["retried"] == 0
    assert stack.queue_depth(stack.dlq_url) == 0
    _assert_exactly_once(strava, src_user, dst_user)


def test_provider_429_storm_longer_than_receive_budget_never_dead_letters(make_stack, strava):
    # Strava's 429 says "come back at the next 15-minute window": capped to 1 s here so the test is quick.
    stack = make_stack({"worker": {"retry_after_cap_s": 1}})
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    strava.control.add_fault(f"storm-{uuid.uuid4().hex[:6]}", "rate_limit_storm",
                             target={"user": str(src_user["user_id"])}, attributes={"retry_after": 0}, max_hits=8)
    worker = stack.start_worker(concurrency=1)
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    stack.wait_job(user_id, job_id, timeout=150)
    counters = worker.counters.snapshot()
    assert counters["throttled_delays"] == 8 and counters["retried"] == 0 and counters["dead_lettered"] == 0
    assert stack.queue_depth(stack.dlq_url) == 0
    _assert_exactly_once(strava, src_user, dst_user)


def test_redis_down_means_no_third_party_call_then_completion(make_stack, strava, redis_server):
    stack = make_stack()
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    worker = stack.start_worker()
    redis_server.stop()
    before = strava.control.counters()["calls"]
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    wait_for(lambda: worker.counters.snapshot()["throttled_delays"] >= 3, 60, what="throttled delays while Redis is down")
    assert worker.counters.snapshot()["third_party_calls"] == 0
    calls = strava.control.counters()["calls"]
    assert all(str(src_user["user_id"]) not in per_user for per_user in calls.values()) or calls == before
    assert stack.job(user_id, job_id)["status"] == "QUEUED"
    redis_server.start()
    stack.wait_job(user_id, job_id, timeout=150)
    assert stack.queue_depth(stack.dlq_url) == 0
    _assert_exactly_once(strava, src_user, dst_user)


def test_secrets_manager_down_cached_credentials_keep_working(make_stack, strava, moto_env):
    # Slower retries: the uncached job must not use up its 5 receives during the (short) outage.
    stack = make_stack({"worker": {"backoff_base_s": 0.5, "backoff_cap_s": 3}})
    proxy = moto_env["secrets_proxy"]
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    other_user, other_src, other_dst, other_src_user, other_dst_user = _new_pair(stack, strava)
    worker = stack.start_worker()
    stack.wait_job(user_id, stack.submit(stack.job_message(user_id, src, dst)))
    proxy.set_down(True)
    try:
        cached = stack.submit(stack.job_message(user_id, src, dst))
        uncached = stack.submit(stack.job_message(other_user, other_src, other_dst))
        wait_for(lambda: worker.counters.snapshot()["retried"] >= 1, 60, what="the uncached job to fail transiently")
        stack.wait_job(user_id, cached)  # cached credentials: still syncs
        assert stack.job(other_user, uncached)["status"] == "QUEUED"
    finally:
        proxy.set_down(False)
    stack.wait_job(other_user, uncached, timeout=90)
    assert stack.queue_depth(stack.dlq_url) == 0
    _assert_exactly_once(strava, other_src_user, other_dst_user)
