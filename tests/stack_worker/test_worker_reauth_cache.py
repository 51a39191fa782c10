"""Through the running stack: the worker's needs_reauth write drops the API's cached configuration
(``config##{userId}``), so GET /v1/connections shows it at once, not after the cache's 15 min TTL.

The job is followed in DynamoDB, not through GET /v1/sync-jobs: the API drops the entry itself when it reads a
terminal job, which would hide a worker that does not."""
from __future__ import annotations

import time
import uuid

import httpx
import redis

from stack import aws_clients, schema
from stack.api.cache import config_key
from stack.launcher.driver import auth_headers, sync_body
from stack.launcher.stack import TABLE_NAME
from stack.testing import syncwell_stack  # noqa: F401  (the fixture, used by name)
from stack.worker.ddb import from_ddb

from .harness import wait_for

SYNCWELL_STACK = {"users": 3, "fake_config": {"history_days": 7},
                  "appconfig": {"worker": {"backoff_base_s": 0.5, "backoff_cap_s": 1, "visibility_timeout_s": 60,
                                           "poll_wait_s": 1}}}


def _connections(stack, user) -> dict[str, str]:
    response = httpx.get(f"{stack.api_url}/v1/connections", headers=auth_headers(stack, user.user_id), timeout=10)
    assert response.status_code == 200, response.text
    return {c["connectionId"]: c["status"] for c in response.json()["connections"]}


def _job_status(ddb, user_id: str, job_id: str) -> str:
    raw = ddb.get_item(TableName=TABLE_NAME, ConsistentRead=True, Key={
        "PK": {"S": schema.user_pk(user_id)}, "SK": {"S": schema.job_sk(job_id)}}).get("Item")
    return str(from_ddb(raw).get("status")) if raw else ""


def test_revoked_token_shows_needs_reauth_at_once_despite_the_api_cache(syncwell_stack):
    stack = syncwell_stack
    user = stack.users[1]
    source = user.connection(user.pairs[0].source_provider)
    cache = redis.Redis.from_url(str(stack.redis_url))
    assert _connections(stack, user)[source.connection_id] == "active"
    assert cache.exists(config_key(user.user_id)), "the API did not cache the configuration: nothing to test"
    revoked = httpx.post(f"{stack.fake_url(source.provider)}/_fake/users/{source.provider_user_id}/revoke",
                         json={}, timeout=10)
    assert revoked.status_code < 300, revoked.text
    response = httpx.post(f"{stack.api_url}/v1/sync-jobs", json=sync_body(user), timeout=30,
                          headers=auth_headers(stack, user.user_id, f"reauth-{uuid.uuid4()}"))
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    ddb = aws_clients.client("dynamodb", stack.aws_env)
    wait_for(lambda: _job_status(ddb, user.user_id, job_id) == "DEAD_LETTERED", 120, interval=0.2,
             what="the job to be dead-lettered")
    started = time.monotonic()
    assert _connections(stack, user)[source.connection_id] == "needs_reauth"
    assert time.monotonic() - started < 5  # one request, far inside the cache's TTL
    cache.close()
