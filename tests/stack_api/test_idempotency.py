"""One Idempotency-Key, one job, one message: sequential repeats, concurrent duplicates, the crash window."""
from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from .conftest import auth, idem
from .test_step1 import sync_body


def messages_for(backend, job_id: str) -> list[dict]:
    return [m for m in backend.drain("HotPathSyncQueue") if json.loads(m["Body"])["jobId"] == job_id]


def test_repeat_returns_the_first_job(client, minter, user, backend) -> None:
    user_id, connections = user
    headers = {**auth(minter, user_id), **idem()}
    first = client.post("/v1/sync-jobs", headers=headers, json=sync_body(connections))
    second = client.post("/v1/sync-jobs", headers=headers, json=sync_body(connections))
    assert first.status_code == second.status_code == 202
    assert first.json()["jobId"] == second.json()["jobId"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(messages_for(backend, first.json()["jobId"])) == 1


def test_same_key_different_users_are_different_jobs(client, minter, user, backend) -> None:
    user_id, connections = user
    other = f"u{uuid.uuid4().hex[:12]}"
    other_connections = backend.add_user(other)
    key = idem()
    mine = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **key}, json=sync_body(connections))
    theirs = client.post("/v1/sync-jobs", headers={**auth(minter, other), **key}, json=sync_body(other_connections))
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["jobId"] != theirs.json()["jobId"]


def test_key_reused_with_a_different_body_is_422(client, minter, user) -> None:
    user_id, connections = user
    headers = {**auth(minter, user_id), **idem()}
    assert client.post("/v1/sync-jobs", headers=headers, json=sync_body(connections)).status_code == 202
    response = client.post("/v1/sync-jobs", headers=headers, json=sync_body(connections, dataType="steps"))
    assert response.status_code == 422


def test_concurrent_duplicates_make_one_job_and_one_message(api, minter, user, backend) -> None:
    user_id, connections = user
    headers = {**auth(minter, user_id), **idem()}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
            return await asyncio.gather(*(http.post("/v1/sync-jobs", headers=headers, json=sync_body(connections))
                                          for _ in range(12)))

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {202}
    job_ids = {r.json()["jobId"] for r in responses}
    assert len(job_ids) == 1
    job_id = job_ids.pop()
    assert len(messages_for(backend, job_id)) == 1
    jobs = [i for i in backend.client("dynamodb").query(
        TableName=backend.table, KeyConditionExpression="PK = :pk AND begins_with(SK, :job)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":job": {"S": "JOB#"}})["Items"]]
    assert len(jobs) == 1


def test_crash_window_retry_resends_a_stranded_job(api, backend, minter, user) -> None:
    """The states a crash leaves behind are repaired by the client's retry, in a process that did not accept
    the job itself: (a) claim and job written, message never sent; (b) only the claim written (the job item
    and the message lost)."""
    user_id, connections = user
    token = auth(minter, user_id)
    keys = [idem(), idem()]
    first = [httpx.post(f"{api.url}/v1/sync-jobs", headers={**token, **k}, json=sync_body(connections), timeout=10)
             for k in keys]
    job_ids = [r.json()["jobId"] for r in first]
    sent = [json.loads(m["Body"])["jobId"] for m in backend.drain("HotPathSyncQueue")]
    assert all(sent.count(job_id) == 1 for job_id in job_ids)   # consumed: as if never sent
    backend.client("dynamodb").delete_item(TableName=backend.table, Key={
        "PK": {"S": f"USER#{user_id}"}, "SK": {"S": f"JOB#{job_ids[1]}"}})
    second_api = backend.start_api("crash-b")
    try:
        retries = [httpx.post(f"{second_api.url}/v1/sync-jobs", headers={**token, **k}, json=sync_body(connections),
                              timeout=10) for k in keys]
    finally:
        second_api.stop()
    assert second_api.popen.returncode == 0                  # SIGTERM is a clean, graceful stop
    resent = [json.loads(m["Body"]) for m in backend.drain("HotPathSyncQueue")]
    for retry, job_id in zip(retries, job_ids):
        assert retry.status_code == 202 and retry.json()["jobId"] == job_id
        mine = [body for body in resent if body["jobId"] == job_id]
        assert len(mine) == 1 and mine[0]["userId"] == user_id
    restored = backend.get(f"USER#{user_id}", f"JOB#{job_ids[1]}")
    assert restored is not None and restored["status"] == "QUEUED"


def test_transaction_mode_gives_one_job_for_concurrent_duplicates(backend, minter, user) -> None:
    """The TransactWriteItems variant (api.idempotency_write: transaction) keeps the same guarantee."""
    user_id, connections = user
    proc = backend.start_api("transaction", {"api": {"idempotency_write": "transaction"}})
    try:
        headers = {**auth(minter, user_id), **idem()}

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=proc.url, timeout=15) as http:
                return await asyncio.gather(*(http.post("/v1/sync-jobs", headers=headers,
                                                        json=sync_body(connections)) for _ in range(8)))

        responses = asyncio.run(burst())
    finally:
        proc.stop()
    assert {r.status_code for r in responses} == {202}
    job_ids = {r.json()["jobId"] for r in responses}
    assert len(job_ids) == 1
    assert len(messages_for(backend, job_ids.pop())) == 1
