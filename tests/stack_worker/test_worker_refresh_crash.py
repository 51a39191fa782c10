"""kill -9 between the provider rotating a refresh token and Secrets Manager storing the new one: the grant is not
lost (stack/worker/refreshjournal.py). The kill point is deterministic: ``SYNCWELL_WORKER_CRASH_AT`` makes the
worker SIGKILL itself right after the write-ahead record, before PutSecretValue."""
from __future__ import annotations

import collections

from stack import schema
from stack.worker.refreshjournal import journal_key

from .harness import ServiceProcess, service_env, wait_for
from .test_refresh_journal import _expire, _refused
from .test_worker_happy import _new_pair, _source_count, _writes


def test_worker_killed_after_refresh_before_store_keeps_the_grant(make_stack, strava, tmp_path):
    stack = make_stack({"worker": {"visibility_timeout_s": 6}})  # the redelivery comes after the lease
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    old = _expire(stack, user_id, src)  # the first job must refresh before its first call
    env = service_env(stack, tmp_path)
    first = ServiceProcess("stack.worker", {**env, "SYNCWELL_WORKER_CRASH_AT": "after_refresh_write_ahead"},
                           "--concurrency", "1")
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    wait_for(lambda: first.proc.poll() is not None, 60, what="the worker to be killed mid-refresh")
    assert first.proc.returncode == -9
    # The provider rotated (the old refresh token is refused) and the secret still holds the old tokens.
    assert _refused(strava, old["refreshToken"])
    assert stack.tokens(user_id, src)["refreshToken"] == old["refreshToken"]
    assert stack.job(user_id, job_id)["status"] == "QUEUED"

    second = ServiceProcess("stack.worker", env, "--concurrency", "1")
    try:
        stack.wait_job(user_id, job_id)
        counters = second.health()["counters"]
    finally:
        assert second.stop() == 0
    assert counters["token_refreshes"] == 0  # it stored the dead worker's tokens instead of refreshing again
    stored = stack.tokens(user_id, src)
    assert stored["refreshToken"] != old["refreshToken"]
    connection = stack.get(schema.user_pk(user_id), schema.connection_sk(src))
    assert connection["status"] == "active" and "ReAuthStatus" not in connection
    key = journal_key(schema.connection_secret_name(user_id, src))
    assert stack.get(key["PK"], key["SK"]) is None  # the write-ahead record is settled
    writes = _writes(strava, dst_user)
    assert len(writes) == _source_count(strava, src_user)
    assert max(collections.Counter(w["external_id"] for w in writes).values()) == 1
    assert stack.queue_depth(stack.dlq_url) == 0
    assert not _refused(strava, stored["refreshToken"])  # the stored grant is live (this uses, so rotates, it)
