"""The worker records on the job item when it received the job (``receivedAt``) and when the batch that finished
it was received (``startedAt``), in the state write it makes anyway: capacity validation reads them
(sim/queueing/measured.py) instead of inferring service times."""
from __future__ import annotations

import time

from .harness import wait_for
from .test_worker_happy import _new_pair


def test_succeeded_job_item_carries_received_and_started_times(make_stack, strava):
    stack = make_stack()
    user_id, src, dst, _, _ = _new_pair(stack, strava)
    worker = stack.start_worker(concurrency=1)
    before = time.time()
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    job = stack.wait_job(user_id, job_id)
    assert job["createdAt"] <= job["receivedAt"] <= job["startedAt"] <= job["completedAt"] <= time.time()
    assert job["receivedAt"] >= before - 1
    # no extra DynamoDB write for them: the job item is written once, by the batch's state write
    assert job["version"] == 2
    # the counter moves just after the state write the job was read from
    wait_for(lambda: worker.counters.snapshot()["succeeded"] == 1, timeout=10, what="the succeeded counter")
