"""Exactly-once when a batch outlives its lease (the chaos soak's duplicate Strava writes).

A batch's state write (COMPLETED, cursor, RETRY writtenIds) used to come after its LAST job: one slow job kept the
earlier jobs' writes unrecorded past their lease, SQS redelivered their messages to another poller, and that run
could not see the first run's uploads at Strava (listed only once processed), so it uploaded them again.
"""
from __future__ import annotations

import collections
import uuid

from .harness import wait_for
from .test_worker_happy import _new_pair, _source_count, _writes


def test_a_slow_job_does_not_delay_the_batch_state_write_past_the_lease(make_stack, strava):
    lease_s = 8  # the lock lease is the visibility timeout; reads must be answered by 90 % of it
    stack = make_stack({"worker": {"visibility_timeout_s": lease_s}})
    user_a, src_a, dst_a, src_user_a, dst_user_a = _new_pair(stack, strava)
    user_b, src_b, dst_b, src_user_b, _ = _new_pair(stack, strava)
    expected = _source_count(strava, src_user_a)
    slow_reads, slow_writes = f"slow-list-{uuid.uuid4().hex[:6]}", f"slow-upload-{uuid.uuid4().hex[:6]}"
    # Job B's source answers after 1.5 leases; job A's uploads take a while and stay "processing" for 2 leases.
    strava.control.add_fault(slow_reads, "latency", target={"user": str(src_user_b["user_id"]),
                                                            "route": "GET /api/v3/athlete/activities"},
                             attributes={"distribution": "fixed", "ms": 1500 * lease_s})
    strava.control.add_fault(slow_writes, "latency", target={"user": str(dst_user_a["user_id"]),
                                                             "route": "POST /api/v3/uploads"},
                             attributes={"distribution": "fixed", "ms": 300})
    processing = strava.control.config().get("upload_processing_seconds", 0.5)
    strava.control.set_config(upload_processing_seconds=2 * lease_s)
    try:
        job_a = stack.submit(stack.job_message(user_a, src_a, dst_a))
        job_b = stack.submit(stack.job_message(user_b, src_b, dst_b))  # the same batch, run after A
        first = stack.start_worker(concurrency=1)
        wait_for(lambda: first.counters.snapshot()["received"] >= 2, 30, what="both jobs in the first batch")
        stack.start_worker(concurrency=1)  # picks up whatever SQS redelivers
        stack.wait_job(user_a, job_a, timeout=90)
        strava.control.delete_fault(slow_reads)
        stack.wait_job(user_b, job_b, timeout=90)
        wait_for(lambda: stack.queue_depth(stack.hot_url) == 0, 60, what="every message settled")
    finally:
        strava.control.clear_faults()
        strava.control.set_config(upload_processing_seconds=processing)
    writes = _writes(strava, dst_user_a)
    counts = collections.Counter(w["external_id"] for w in writes)
    assert max(counts.values()) == 1, f"uploaded more than once: {[e for e, n in counts.items() if n > 1]}"
    assert len(writes) == expected
