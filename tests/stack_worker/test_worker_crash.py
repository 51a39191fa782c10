"""kill -9 in the middle of a job: no duplicate destination write, no lost job."""
from __future__ import annotations

import collections
import uuid

from .harness import ServiceProcess, service_env, wait_for
from .test_worker_happy import _new_pair, _source_count, _writes


def test_kill_9_mid_job_neither_duplicates_nor_loses_it(make_stack, strava, tmp_path):
    stack = make_stack({"worker": {"visibility_timeout_s": 6}})  # the lock lease is the visibility timeout
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava, history_days=8)
    expected = _source_count(strava, src_user)
    assert expected >= 3
    fault = f"slow-writes-{uuid.uuid4().hex[:6]}"
    strava.control.add_fault(fault, "latency", target={"user": str(dst_user["user_id"]), "route": "POST /api/v3/uploads"},
                             attributes={"distribution": "fixed", "ms": 300})
    env = service_env(stack, tmp_path)
    first = ServiceProcess("stack.worker", env, "--concurrency", "1")
    try:
        job_id = stack.submit(stack.job_message(user_id, src, dst))
        wait_for(lambda: len(_writes(strava, dst_user)) >= 1, 60, what="the first destination write")
    finally:
        first.stop(kill=True)  # SIGKILL: no cleanup, the lock stays INPROGRESS until its lease ends
    assert len(_writes(strava, dst_user)) < expected
    assert stack.job(user_id, job_id)["status"] == "QUEUED"
    strava.control.delete_fault(fault)
    second = ServiceProcess("stack.worker", env, "--concurrency", "1")
    try:
        stack.wait_job(user_id, job_id)
    finally:
        assert second.stop() == 0
    writes = _writes(strava, dst_user)
    assert len(writes) == expected
    assert max(collections.Counter(w["external_id"] for w in writes).values()) == 1
    assert stack.queue_depth(stack.dlq_url) == 0
