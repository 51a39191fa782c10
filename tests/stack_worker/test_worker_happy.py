"""The worker's happy path over real HTTP: moto, redis-server, the fake Strava, the worker's own threads."""
from __future__ import annotations

import collections
import uuid

import httpx

from .harness import wait_for


def _new_pair(stack, strava, history_days: int = 3):
    """A SyncWell user with a Strava source that has at least one workout (some synthetic users rest for days:
    a pair with nothing to sync would make the exactly-once checks vacuous)."""
    user_id = f"u_{uuid.uuid4().hex[:10]}"
    for _ in range(20):
        src_user = strava.control.create_user(history_days=history_days)
        if _source_count(strava, src_user) > 0:
            break
    else:
        raise AssertionError("20 synthetic Strava users in a row had no workout")
    dst_user = strava.control.create_user(history_days=0)
    src = stack.add_connection(user_id, "strava", src_user)
    dst = stack.add_connection(user_id, "strava", dst_user)
    stack.add_config(user_id, src, dst)
    return user_id, src, dst, src_user, dst_user


def _source_count(strava, fake_user) -> int:
    response = httpx.get(strava.url + "/api/v3/athlete/activities", params={"after": 0, "per_page": 200},
                         headers={"Authorization": "Bearer " + fake_user["access_token"]})
    return len(response.json())


def _writes(strava, fake_user) -> list[dict]:
    return strava.control.writes(fake_user["user_id"])


def test_job_succeeds_with_one_destination_write_per_source_item(make_stack, strava):
    stack = make_stack()
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    expected = _source_count(strava, src_user)
    assert expected > 0
    worker = stack.start_worker()
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    job = stack.wait_job(user_id, job_id)
    writes = _writes(strava, dst_user)
    assert job["itemsWritten"] == expected == len(writes)
    external_ids = [w["external_id"] for w in writes]
    assert len(set(external_ids)) == len(external_ids) and all(e.startswith("syncwell-") for e in external_ids)
    config = stack.config_item(user_id, src)
    assert config["cursor"] > 0 and config["version"] == 2
    counters = worker.counters.snapshot()
    assert counters["succeeded"] == 1 and counters["events_published"] == 1
    assert stack.queue_depth(stack.hot_url) == 0

    # A second sync finds nothing new: SUCCEEDED, no destination write, no sync-config write [write avoidance].
    again = stack.submit(stack.job_message(user_id, src, dst))
    assert stack.wait_job(user_id, again)["itemsWritten"] == 0
    assert len(_writes(strava, dst_user)) == expected
    assert stack.config_item(user_id, src)["version"] == 2


def test_same_idempotency_key_twice_writes_once(make_stack, strava):
    stack = make_stack()
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    key = str(uuid.uuid4())
    first = stack.job_message(user_id, src, dst, idempotency_key=key)
    second = dict(first)  # an SQS duplicate delivery of the very same job
    stack.submit(first)
    stack.submit(second, job_item=False)
    worker = stack.start_worker(concurrency=2)
    stack.wait_job(user_id, first["jobId"])
    wait_for(lambda: stack.queue_depth(stack.hot_url) == 0, 30, what="both messages settled")
    writes = _writes(strava, dst_user)
    assert len(writes) == _source_count(strava, src_user)
    assert collections.Counter(w["external_id"] for w in writes).most_common(1)[0][1] == 1
    counters = worker.counters.snapshot()
    assert counters["succeeded"] == 1 and counters["duplicates_dropped"] == 1


def test_many_jobs_for_many_users_all_succeed(make_stack, strava):
    stack = make_stack()
    pairs = [_new_pair(stack, strava, history_days=1) for _ in range(8)]
    stack.start_worker(concurrency=3)
    jobs = [(p[0], stack.submit(stack.job_message(p[0], p[1], p[2]))) for p in pairs]
    for user_id, job_id in jobs:
        stack.wait_job(user_id, job_id)
    for user_id, src, dst, src_user, dst_user in pairs:
        assert len(_writes(strava, dst_user)) == _source_count(strava, src_user)
