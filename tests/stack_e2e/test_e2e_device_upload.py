"""Device-to-Cloud sync through the running stack: POST /v1/device-upload -> S3 + hot-path job -> worker ->
destination fake, exactly once per uploaded workout even when the upload is retried with the same key."""
from __future__ import annotations

import uuid

import httpx

from stack.launcher.driver import auth_headers
from stack.providers import external_id_for

from .helpers import FAST_APPCONFIG, QUICK_FAKES, fake_writes, wait_until_terminal

SYNCWELL_STACK = {"users": 3, "appconfig": FAST_APPCONFIG, "fake_config": QUICK_FAKES}


def _workout(source_id: str, start: str) -> dict:
    return {"sourceId": source_id, "activityType": "RUNNING", "startTime": start, "durationSeconds": 1800,
            "distanceMeters": 5000.0, "calories": 350, "heartRateSamples": [120, 125, 130, 128]}


def test_device_upload_is_written_once_to_the_destination(syncwell_stack):
    user = syncwell_stack.users[0]
    key = f"upload-{uuid.uuid4()}"
    body = {"data": [_workout("watch-1", "2026-11-20T07:00:00Z"), _workout("watch-2", "2026-11-21T07:00:00Z")]}
    first = httpx.post(f"{syncwell_stack.api_url}/v1/device-upload", json=body,
                       headers=auth_headers(syncwell_stack, user.user_id, key), timeout=30)
    assert first.status_code == 202, first.text
    job_id = first.json()["jobId"]
    assert wait_until_terminal(syncwell_stack, user, job_id) == "SUCCEEDED"

    retried = httpx.post(f"{syncwell_stack.api_url}/v1/device-upload", json=body,
                         headers=auth_headers(syncwell_stack, user.user_id, key), timeout=30)
    assert retried.status_code == 202 and retried.json()["jobId"] == job_id

    # The upload went to one writable destination; each workout carries its own deterministic external id there.
    destinations = [c for c in user.connections if c.provider in ("strava", "fitbit")]
    written = {c.connection_id: [w.get("external_id") for w in fake_writes(syncwell_stack, c.provider,
                                                                           c.provider_user_id)]
               for c in destinations}
    matches = {conn: [external_id_for("device", f"{user.user_id}:{sid}", conn) for sid in ("watch-1", "watch-2")]
               for conn in written}
    hits = {conn: [written[conn].count(eid) for eid in ids] for conn, ids in matches.items()}
    assert [1, 1] in hits.values(), f"each uploaded workout must be written exactly once somewhere: {hits}"
