"""Rate limits (per user, per address), Redis down (fail open), DynamoDB down (fast 503), logs hygiene."""
from __future__ import annotations

import time
import uuid

import httpx
import pytest

from .conftest import auth, idem
from .harness import closed_port
from .test_step1 import sync_body

# A generous Redis timeout: on a loaded test machine a slow answer must not flip the limiter to fail-open.
SMALL_LIMITS = {"api": {"user_rate_per_s": 1, "user_burst": 5, "ip_limit": 30, "ip_window_s": 300,
                        "redis_timeout_s": 3}}


@pytest.fixture(scope="module")
def limited_api(backend):
    proc = backend.start_api("limited", SMALL_LIMITS)
    yield proc
    proc.stop()


def test_per_user_limit_answers_429_with_retry_after(limited_api, minter, backend) -> None:
    user_id = f"u{uuid.uuid4().hex[:12]}"
    backend.add_user(user_id)
    headers = {**auth(minter, user_id), "X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250}"}
    with httpx.Client(base_url=limited_api.url, timeout=10) as http:
        statuses = [http.get("/v1/connections", headers=headers) for _ in range(8)]
    assert [r.status_code for r in statuses[:5]] == [200] * 5
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"]["code"] == "rate_limited"


def test_per_ip_limit_counts_every_request_from_an_address(limited_api, minter, backend) -> None:
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    with httpx.Client(base_url=limited_api.url, timeout=10) as http:
        # Different users (so the per-user bucket never trips) and unauthenticated calls all count.
        statuses = []
        for index in range(30):
            headers = {"X-Forwarded-For": address}
            if index % 2:
                headers.update(auth(minter, f"ipuser{index}{uuid.uuid4().hex[:6]}"))
            statuses.append(http.get("/v1/connections", headers=headers).status_code)
        assert 429 not in statuses
        blocked = http.get("/v1/connections", headers={"X-Forwarded-For": address})
        other = http.get("/v1/connections", headers={"X-Forwarded-For": "192.0.2.77"})
        health = http.get("/health", headers={"X-Forwarded-For": address})
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 300
    assert other.status_code == 401                          # another address is unaffected
    assert health.status_code == 200                         # health checks are never limited


def test_loopback_without_forwarded_address_is_exempt_from_the_address_limit(limited_api) -> None:
    """The local harness (every simulated user behind 127.0.0.1) is not one client; a named client is."""
    with httpx.Client(base_url=limited_api.url, timeout=10) as http:
        statuses = {http.get("/v1/connections").status_code for _ in range(35)}
    assert statuses == {401}


@pytest.fixture(scope="module")
def degraded_api(backend):
    """An API whose Redis and DynamoDB both refuse connections (ports nothing listens on)."""
    proc = backend.start_api("degraded", SMALL_LIMITS, SYNCWELL_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
                             AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{closed_port()}")
    yield proc
    proc.stop()


def test_redis_down_fails_open(degraded_api, minter) -> None:
    user_id = f"u{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=degraded_api.url, timeout=10) as http:
        # Requests that need no DynamoDB: more than the burst of 5 for one user, none refused.
        statuses = [http.get("/v1/sync-jobs/not-a-job", headers=auth(minter, user_id)).status_code for _ in range(8)]
        health = http.get("/health").json()
    assert statuses == [404] * 8
    assert health["rateLimiting"] == "fail-open"
    assert "redis unavailable" in degraded_api.logs()


def test_dynamodb_down_is_a_fast_503(degraded_api, minter, user) -> None:
    user_id, connections = user
    with httpx.Client(base_url=degraded_api.url, timeout=30) as http:
        started = time.monotonic()
        listed = http.get("/v1/connections", headers=auth(minter, user_id))
        listed_s = time.monotonic() - started
        started = time.monotonic()
        created = http.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()},
                            json=sync_body(connections))
        created_s = time.monotonic() - started
        health = http.get("/health")
    assert listed.status_code == 503 and created.status_code == 503
    assert listed.json()["error"]["code"] == "service_unavailable"
    assert listed.headers["retry-after"]
    assert listed_s < 2.5 and created_s < 2.5, (listed_s, created_s)
    assert health.status_code == 200


def test_no_token_or_authorization_in_logs(api, client, minter, user) -> None:
    user_id, connections = user
    token = minter.mint("firebase", user_id)
    bad = minter.mint("firebase", user_id, bad_signature=True)
    client.get("/v1/connections", headers={"Authorization": f"Bearer {token}"})
    client.get("/v1/connections", headers={"Authorization": f"Bearer {bad}"})
    client.post("/v1/sync-jobs", headers={"Authorization": f"Bearer {token}", **idem()},
                json=sync_body(connections, note=token))
    client.get("/health")
    client.get("/webhooks/strava", params={"hub.mode": "subscribe", "hub.challenge": "c",
                                           "hub.verify_token": "secret-verify-value"})
    time.sleep(0.2)   # let the process flush its last lines (logging is synchronous; this is only pipe latency)
    logs = api.logs()
    assert '"path": "/v1/connections"' in logs and '"status": 401' in logs
    for secret in (token, bad, token.split(".")[1], "secret-verify-value"):
        assert secret not in logs
    assert "authorization" not in logs.lower()
    assert '"/health"' not in logs
