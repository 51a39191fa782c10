"""The Redis read-path cache (stack.api.cache): what is served from it, and every way an entry stops being used."""
from __future__ import annotations

import asyncio
import time
import uuid

from stack import schema
from stack.api.cache import ReadCache, config_key

from .conftest import auth, idem


def _job_item(user_id: str, status: str) -> dict:
    job_id = f"job_{uuid.uuid4()}"
    return {"PK": schema.user_pk(user_id), "SK": schema.job_sk(job_id), "jobId": job_id, "userId": user_id,
            "status": status, "progress": {"totalChunks": 1, "processedChunks": 0, "failedChunks": 0},
            "createdAt": time.time(), "updatedAt": time.time(), "messageBody": "{}"}


def _statuses(client, minter, user_id: str) -> dict[str, str]:
    listed = client.get("/v1/connections", headers=auth(minter, user_id))
    assert listed.status_code == 200
    return {c["connectionId"]: c["status"] for c in listed.json()["connections"]}


def test_connections_come_from_the_cache_until_a_terminal_job_read_drops_it(client, minter, user, backend) -> None:
    user_id, connections = user
    strava = connections["strava"]
    assert _statuses(client, minter, user_id)[strava] == "active"
    # The worker marks the connection behind the API's back (as on a revoked grant) ...
    connection = backend.get(schema.user_pk(user_id), schema.connection_sk(strava))
    backend.put({**connection, "status": "needs_reauth"})
    assert _statuses(client, minter, user_id)[strava] == "active"      # ... the cached entry still answers
    # ... and ends the job: reading a terminal job drops the user's cached configuration.
    job = _job_item(user_id, "DEAD_LETTERED")
    backend.put(job)
    assert client.get(f"/v1/sync-jobs/{job['jobId']}", headers=auth(minter, user_id)).json()["status"] == "DEAD_LETTERED"
    assert _statuses(client, minter, user_id)[strava] == "needs_reauth"


def test_only_succeeded_jobs_are_cached(client, minter, user, backend) -> None:
    user_id, _ = user
    headers = auth(minter, user_id)
    running = _job_item(user_id, "RUNNING")
    backend.put(running)
    assert client.get(f"/v1/sync-jobs/{running['jobId']}", headers=headers).json()["status"] == "RUNNING"
    backend.put({**running, "status": "SUCCEEDED", "itemsWritten": 3})
    seen = client.get(f"/v1/sync-jobs/{running['jobId']}", headers=headers).json()
    assert seen["status"] == "SUCCEEDED" and seen["itemsWritten"] == 3     # a RUNNING status was never cached
    backend.put({**running, "status": "FAILED"})                            # (nothing real does this) ...
    again = client.get(f"/v1/sync-jobs/{running['jobId']}", headers=headers).json()
    assert again == seen                                                     # ... the SUCCEEDED view is served
    assert "messageBody" not in again


def test_account_deletion_drops_cached_jobs_and_configuration(client, minter, user, backend) -> None:
    user_id, _ = user
    headers = auth(minter, user_id)
    job = _job_item(user_id, "SUCCEEDED")
    backend.put(job)
    assert client.get(f"/v1/sync-jobs/{job['jobId']}", headers=headers).status_code == 200
    assert len(_statuses(client, minter, user_id)) == 2
    assert client.delete("/v1/users/me", headers={**headers, **idem()}).status_code == 202
    assert client.get(f"/v1/sync-jobs/{job['jobId']}", headers=headers).status_code in (200, 404)
    # The erasure runs after the answer; once it is done, nothing cached about the user is served.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            client.get(f"/v1/sync-jobs/{job['jobId']}", headers=headers).status_code != 404
            or _statuses(client, minter, user_id)):
        time.sleep(0.1)
    assert backend.get(schema.user_pk(user_id), schema.job_sk(job["jobId"])) is None
    assert client.get(f"/v1/sync-jobs/{job['jobId']}", headers=headers).status_code == 404
    assert _statuses(client, minter, user_id) == {}


def test_a_fill_racing_an_invalidation_is_dropped(backend) -> None:
    async def scenario() -> tuple[bool, bool]:
        cache = ReadCache(backend.redis_url, ttl_s=60)
        user_id = f"u{uuid.uuid4().hex[:12]}"
        try:
            before = await cache.connections(user_id)          # miss: the reader goes to DynamoDB ...
            await cache.invalidate_config(user_id)             # ... a writer changes the data meanwhile ...
            await cache.fill_connections(user_id, before, [{"connectionId": "stale"}])
            fenced = not (await cache.connections(user_id)).hit
            fresh = await cache.connections(user_id)
            await cache.fill_connections(user_id, fresh, [{"connectionId": "fresh"}])
            served = await cache.connections(user_id)
            ttl = await cache.redis.ttl(config_key(user_id))
            return fenced, served.hit and served.value == [{"connectionId": "fresh"}] and 0 < ttl <= 60
        finally:
            await cache.close()

    fenced, refilled = asyncio.run(scenario())
    assert fenced, "a value read before an invalidation was written back"
    assert refilled


def test_redis_down_means_reads_from_dynamodb(backend) -> None:
    async def scenario() -> tuple[bool, float]:
        cache = ReadCache("redis://127.0.0.1:1/0", ttl_s=60, timeout_s=0.2)
        try:
            first = await cache.connections("anyone")
            started = time.monotonic()
            second = await cache.connections("anyone")          # inside the fail-open window: no Redis attempt
            return (not first.hit and first.generation is None and not second.hit), time.monotonic() - started
        finally:
            await cache.close()

    missed, second_s = asyncio.run(scenario())
    assert missed and second_s < 0.05
