"""Health, connections and sync jobs through the real API process."""
from __future__ import annotations

import json
import re
import uuid

import httpx

from .conftest import auth, idem

JOB_ID = re.compile(r"^job_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def sync_body(connections: dict[str, str], **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"sourceConnectionId": connections["strava"],
                               "destinationConnectionId": connections["fitbit"], "dataType": "workout",
                               "mode": "manual", "priority": "high"}
    body.update(overrides)
    return body


def test_health(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-correlation-id"]


def test_connections_shape(client, minter, user) -> None:
    user_id, connections = user
    response = client.get("/v1/connections", headers=auth(minter, user_id))
    assert response.status_code == 200
    listed = {c["connectionId"]: c for c in response.json()["connections"]}
    assert set(listed) == set(connections.values())
    strava = listed[connections["strava"]]
    assert strava["provider"] == "strava" and strava["status"] == "active"
    assert strava["displayName"] and strava["providerIconUrl"].startswith("https://")


def test_cognito_token_is_accepted(client, minter, user) -> None:
    user_id, _ = user
    response = client.get("/v1/connections", headers=auth(minter, user_id, "cognito"))
    assert response.status_code == 200


def test_sync_job_accepted_queued_and_readable(client, minter, user, backend) -> None:
    user_id, connections = user
    headers = {**auth(minter, user_id), **idem(), "X-Correlation-Id": "corr-test-123456"}
    response = client.post("/v1/sync-jobs", headers=headers, json=sync_body(connections, userId="someone-else"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "QUEUED" and JOB_ID.match(body["jobId"])
    assert response.headers["x-correlation-id"] == "corr-test-123456"

    status = client.get(f"/v1/sync-jobs/{body['jobId']}", headers=auth(minter, user_id))
    assert status.status_code == 200
    assert status.json()["jobId"] == body["jobId"]
    assert status.json()["status"] == "QUEUED"
    assert status.json()["progress"] == {"totalChunks": 1, "processedChunks": 0, "failedChunks": 0}

    messages = [m for m in backend.drain("HotPathSyncQueue") if json.loads(m["Body"])["jobId"] == body["jobId"]]
    assert len(messages) == 1
    message = json.loads(messages[0]["Body"])
    assert message["userId"] == user_id                      # from the token, not the body [IDOR]
    assert message["idempotencyKey"] == f"{user_id}#{headers['Idempotency-Key']}"
    assert message["origin"] == "manual" and message["sourceConnectionId"] == connections["strava"]
    assert messages[0]["MessageAttributes"]["correlationId"]["StringValue"] == "corr-test-123456"


def test_historical_job_counts_weekly_chunks(client, minter, user) -> None:
    user_id, connections = user
    response = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()}, json=sync_body(
        connections, mode="historical", dateRange={"startDate": "2023-01-01", "endDate": "2023-12-31"}))
    assert response.status_code == 202, response.text
    job = client.get(f"/v1/sync-jobs/{response.json()['jobId']}", headers=auth(minter, user_id)).json()
    assert job["progress"]["totalChunks"] == 53


def test_other_users_job_is_404(client, minter, user, backend) -> None:
    user_id, connections = user
    job_id = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()},
                         json=sync_body(connections)).json()["jobId"]
    intruder = f"u{uuid.uuid4().hex[:12]}"
    backend.add_user(intruder)
    assert client.get(f"/v1/sync-jobs/{job_id}", headers=auth(minter, intruder)).status_code == 404
    assert client.get(f"/v1/sync-jobs/job_{uuid.uuid4()}", headers=auth(minter, user_id)).status_code == 404
    assert client.get("/v1/sync-jobs/not-a-job", headers=auth(minter, user_id)).status_code == 404


def test_sync_with_someone_elses_connection_is_404(client, minter, user, backend) -> None:
    user_id, _ = user
    other = f"u{uuid.uuid4().hex[:12]}"
    their_connections = backend.add_user(other)
    response = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()},
                           json=sync_body(their_connections))
    assert response.status_code == 404
