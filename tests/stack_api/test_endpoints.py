"""Settings, device upload, connection and account deletion, exports."""
from __future__ import annotations

import io
import json
import time
import uuid
import zipfile

import httpx

from .conftest import auth, idem


def test_settings_merge_with_version(client, minter, user, backend) -> None:
    user_id, _ = user
    headers = auth(minter, user_id)
    first = client.put("/v1/users/me/settings", headers={**headers, **idem()},
                       json={"settings": {"conflictResolutionStrategy": "AI_POWERED_MERGE"}})
    second = client.put("/v1/users/me/settings", headers={**headers, **idem()},
                        json={"settings": {"notificationsEnabled": True}, "userId": "someone-else"})
    assert first.status_code == second.status_code == 200
    assert second.json()["settings"] == {"conflictResolutionStrategy": "AI_POWERED_MERGE", "notificationsEnabled": True}
    profile = backend.get(f"USER#{user_id}", "PROFILE")
    assert profile["version"] == 3 and profile["settings"]["notificationsEnabled"] is True
    bad = client.put("/v1/users/me/settings", headers={**headers, **idem()}, json={"settings": [1]})
    assert bad.status_code == 400 and "settings" in bad.json()["error"]["message"]


def test_device_upload_queues_a_job_with_its_payload(client, minter, user, backend) -> None:
    user_id, connections = user
    records = [{"id": "w1", "type": "RUN", "startTime": "2026-11-21T07:00:00Z", "durationSeconds": 1800}]
    response = client.post("/v1/device-upload", headers={**auth(minter, user_id), **idem()}, json={"data": records})
    assert response.status_code == 202 and response.json()["status"] == "QUEUED"
    job_id = response.json()["jobId"]
    message = [json.loads(m["Body"]) for m in backend.drain("HotPathSyncQueue")
               if json.loads(m["Body"])["jobId"] == job_id][0]
    assert message["origin"] == "device" and message["destinationConnectionId"] in connections.values()
    bucket, key = message["payloadRef"].removeprefix("s3://").split("/", 1)
    stored = json.loads(backend.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["data"] == records
    empty = client.post("/v1/device-upload", headers={**auth(minter, user_id), **idem()}, json={"data": []})
    assert empty.status_code == 400


def test_delete_connection_removes_it_its_configs_and_mapping(client, minter, user, backend) -> None:
    user_id, connections = user
    strava = connections["strava"]
    backend.put({"PK": f"USER#{user_id}", "SK": f"SYNCCONFIG#{strava}##workout", "sourceConnectionId": strava,
                 "destinationConnectionId": connections["fitbit"], "dataType": "workout", "version": 1})
    job = {"sourceConnectionId": strava, "destinationConnectionId": connections["fitbit"], "dataType": "workout",
           "mode": "manual"}
    before = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()}, json=job)
    assert before.status_code == 202                 # (also caches the user's connections in the process)
    response = client.delete(f"/v1/connections/{strava}", headers={**auth(minter, user_id), **idem()})
    assert response.status_code == 204 and response.content == b""
    after = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()}, json=job)
    assert after.status_code == 404                  # the deletion invalidated the cached connections
    assert backend.get(f"USER#{user_id}", f"CONN#{strava}") is None
    assert backend.get(f"USER#{user_id}", f"SYNCCONFIG#{strava}##workout") is None
    assert backend.get(f"PROVIDERUSER#strava#strava-{user_id}", f"PROVIDERUSER#strava#strava-{user_id}") is None
    listed = client.get("/v1/connections", headers=auth(minter, user_id)).json()["connections"]
    assert [c["connectionId"] for c in listed] == [connections["fitbit"]]
    again = client.delete(f"/v1/connections/{strava}", headers={**auth(minter, user_id), **idem()})
    assert again.status_code == 404


def poll(predicate, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_export_job_produces_a_zip_behind_a_presigned_url(client, minter, user) -> None:
    user_id, connections = user
    headers = auth(minter, user_id)
    key = idem()
    created = client.post("/v1/export-jobs", headers={**headers, **key})
    assert created.status_code == 202 and created.json()["status"] == "PENDING"
    job_id = created.json()["jobId"]
    assert job_id.startswith("export-job-")
    assert client.post("/v1/export-jobs", headers={**headers, **key}).json()["jobId"] == job_id

    done = poll(lambda: (r := client.get(f"/v1/export-jobs/{job_id}", headers=headers).json())["status"] != "PENDING" and r)
    assert done["status"] == "SUCCEEDED"
    assert done["expiresAt"].endswith("Z") and "X-Amz-Expires=3600" in done["downloadUrl"]
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(done["downloadUrl"], timeout=10).content))
    connections_json = json.loads(archive.read("connections.json"))
    assert {c["connectionId"] for c in connections_json} == set(connections.values())
    assert all("secretName" not in c for c in connections_json)
    intruder = f"u{uuid.uuid4().hex[:12]}"
    assert client.get(f"/v1/export-jobs/{job_id}", headers=auth(minter, intruder)).status_code == 404


def test_delete_me_erases_the_partition(client, minter, user, backend) -> None:
    user_id, connections = user
    response = client.delete("/v1/users/me", headers={**auth(minter, user_id), **idem()})
    assert response.status_code == 202
    poll(lambda: backend.get(f"USER#{user_id}", "PROFILE") is None)
    poll(lambda: backend.get(f"USER#{user_id}", f"CONN#{connections['fitbit']}") is None)
    assert client.get("/v1/connections", headers=auth(minter, user_id)).json()["connections"] == []
