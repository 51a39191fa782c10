"""Through the running stack, HTTP in and observable effects out: manual sync, idempotency, revoked token,
webhook storm. One stack for the module (10 seeded users; each test uses its own users)."""
from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from stack import aws_clients
from stack.launcher.driver import auth_headers

from .helpers import (FAST_APPCONFIG, QUICK_FAKES, counter, fake_writes, poll, submit_sync, wait_until_terminal)

SYNCWELL_STACK = {"users": 10, "appconfig": FAST_APPCONFIG, "fake_config": QUICK_FAKES}
# Seeded pairs rotate: user i syncs strava->fitbit (i % 3 == 0), garmin->strava (1), fitbit->strava (2).
MANUAL_USER, IDEMPOTENT_USER, STORM_USER, REVOKED_USER = 1, 2, 3, 4


def test_manual_sync_goes_api_queue_worker_source_destination_and_reads_succeeded(syncwell_stack):
    user = syncwell_stack.users[MANUAL_USER]
    destination = user.connection(user.pairs[0].destination_provider)
    response = submit_sync(syncwell_stack, user)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "QUEUED" and job["jobId"].startswith("job_")

    assert wait_until_terminal(syncwell_stack, user, job["jobId"]) == "SUCCEEDED"
    writes = fake_writes(syncwell_stack, destination.provider, destination.provider_user_id)
    assert writes, "the destination fake received no write"


def test_same_idempotency_key_twice_even_concurrently_is_one_job_and_one_write_per_item(syncwell_stack):
    user = syncwell_stack.users[IDEMPOTENT_USER]
    destination = user.connection(user.pairs[0].destination_provider)
    key = f"same-{uuid.uuid4()}"
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: submit_sync(syncwell_stack, user, key), range(3)))
    again = submit_sync(syncwell_stack, user, key)
    statuses = sorted(r.status_code for r in responses + [again])
    job_ids = {r.json()["jobId"] for r in responses + [again] if r.status_code in (200, 202)}
    assert len(job_ids) == 1, f"one Idempotency-Key gave several jobs: {job_ids}"
    assert set(statuses) <= {200, 202, 409} and 202 in statuses

    assert wait_until_terminal(syncwell_stack, user, job_ids.pop()) == "SUCCEEDED"
    writes = fake_writes(syncwell_stack, destination.provider, destination.provider_user_id)
    identities = [w.get("external_id") or json.dumps(w, sort_keys=True) for w in writes]
    assert writes and len(identities) == len(set(identities)), "an item was written twice at the destination"


def test_revoked_token_dead_letters_after_five_receives_and_marks_needs_reauth(syncwell_stack):
    user = syncwell_stack.users[REVOKED_USER]
    source = user.connection(user.pairs[0].source_provider)
    revoked = httpx.post(f"{syncwell_stack.fake_url(source.provider)}/_fake/users/{source.provider_user_id}/revoke",
                         json={}, timeout=10)
    assert revoked.status_code < 300, revoked.text
    response = submit_sync(syncwell_stack, user)
    assert response.status_code == 202
    job_id = response.json()["jobId"]

    assert wait_until_terminal(syncwell_stack, user, job_id, timeout_s=120) == "DEAD_LETTERED"
    if "dlq" in syncwell_stack.processes:
        # The DLQ consumer (stack.dlq) parks dead letters out of sight and archives each with its receive count.
        from stack.dlq.service import DEFAULT_ARCHIVE_BUCKET, archived_records

        s3 = aws_clients.client("s3", syncwell_stack.aws_env)
        records = poll(lambda: [r for r in archived_records(s3, DEFAULT_ARCHIVE_BUCKET) if r.job_id == job_id],
                       bool, timeout_s=60)
        assert records[0].receives == 5
    else:
        sqs = aws_clients.client("sqs", syncwell_stack.aws_env)
        dlq = syncwell_stack.resources["dlq_url"]

        def dead_letters() -> list[dict]:
            got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                      MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
            return [m for m in got if json.loads(m["Body"]).get("jobId") == job_id]

        found = poll(dead_letters, bool, timeout_s=60)
        # 5 receives on the hot-path queue, moved on the 6th attempt; our receive from the DLQ is the 6th count.
        assert int(found[0]["Attributes"]["ApproximateReceiveCount"]) == 5 + 1
    connections = httpx.get(f"{syncwell_stack.api_url}/v1/connections",
                            headers=auth_headers(syncwell_stack, user.user_id), timeout=10).json()["connections"]
    status = {c["connectionId"]: c["status"] for c in connections}
    assert status[source.connection_id] == "needs_reauth"


def test_webhook_storm_for_one_user_within_the_coalescing_window_is_one_sync_job(syncwell_stack):
    user = syncwell_stack.users[STORM_USER]
    source = user.connection(user.pairs[0].source_provider)
    assert source.provider == "strava"
    jobs_before = counter(syncwell_stack, "coalescer", "jobs_sent")
    received_before = counter(syncwell_stack, "coalescer", "webhooks_received")
    emitted = httpx.post(f"{syncwell_stack.fake_url('strava')}/_fake/webhooks/emit", timeout=30, json={
        "user_id": source.provider_user_id, "object_type": "activity", "aspect_type": "update",
        "updates": {"title": "storm"}, "count": 8})
    assert emitted.status_code < 300, emitted.text

    poll(lambda: counter(syncwell_stack, "coalescer", "webhooks_received") - received_before, lambda n: n >= 1,
         timeout_s=30)
    poll(lambda: counter(syncwell_stack, "coalescer", "jobs_sent") - jobs_before, lambda n: n >= 1, timeout_s=30)
    # let the rest of the storm drain through the coalescer before counting
    poll(lambda: int(aws_clients.client("sqs", syncwell_stack.aws_env).get_queue_attributes(
        QueueUrl=syncwell_stack.resources["coalescing_queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]["ApproximateNumberOfMessagesDelayed"]),
         lambda n: n == 0, timeout_s=30)
    assert counter(syncwell_stack, "coalescer", "jobs_sent") - jobs_before == 1
