"""A job that is only contended, never failed, must not be dead-lettered (issue 3).

SQS counts every receive toward maxReceiveCount (5), also the ones where the worker returned the message because
the sync config's lock was held by another job (BUSY) or its lease was nearly over (DEFERRED). Those results use
the throttle mechanism (stack/worker/requeue.py): at the last in-budget receive a fresh copy is sent instead.
"""
from __future__ import annotations

import time

from stack import schema
from stack.worker.idempotency import config_lock_key

from .harness import wait_for
from .test_worker_happy import _new_pair, _source_count, _writes


def test_a_job_busy_for_longer_than_the_receive_budget_succeeds_once_the_lock_is_free(make_stack, strava):
    stack = make_stack({"worker": {"max_receive_count": 5}})
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    lock = config_lock_key(user_id, src, "workout")
    # Another owner's live lease on the sync config, long enough to outlast many receives.
    stack.put({**lock, "status": "INPROGRESS", "owner": "another-host:1:1", "jobId": "job_other",
               "idempotencyKey": "other-key", "leaseUntil": int(time.time()) + 3600,
               schema.TTL_ATTRIBUTE: int(time.time()) + 86400})
    worker = stack.start_worker(concurrency=1)
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    # 8 busy receives: more than one copy's whole budget of 5 (the 5th is re-sent as a fresh copy).
    wait_for(lambda: worker.counters.snapshot()["busy_locks"] >= 8, 120, interval=0.1,
             what="more busy receives than maxReceiveCount")
    assert stack.queue_depth(stack.dlq_url) == 0
    assert stack.job(user_id, job_id)["status"] == "QUEUED"
    stack.put({**lock, "status": "FREE", schema.TTL_ATTRIBUTE: int(time.time()) + 86400})  # the other job is done
    job = stack.wait_job(user_id, job_id, ("SUCCEEDED", "DEAD_LETTERED", "FAILED"), timeout=120)
    assert job["status"] == "SUCCEEDED", job
    # the counter moves just after the state write the job was read from
    counters = wait_for(lambda: (c := worker.counters.snapshot())["succeeded"] == 1 and c, 10,
                        what="the succeeded counter")
    assert counters["dead_lettered"] == 0 and counters["retried"] == 0
    assert stack.queue_depth(stack.dlq_url) == 0
    assert len(_writes(strava, dst_user)) == _source_count(strava, src_user)
