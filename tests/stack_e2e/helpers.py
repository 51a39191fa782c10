"""Shared helpers of the end-to-end tests: HTTP calls as a user, polling with deadlines, fake counters."""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable

import httpx

from stack.launcher import Stack
from stack.launcher.driver import TERMINAL, auth_headers, sync_body
from stack.seed import SeededUser

# Fast retries so a job reaches the DLQ in seconds; a short coalescing window.
FAST_APPCONFIG = {
    "worker": {"backoff_base_s": 0.5, "backoff_cap_s": 1, "visibility_timeout_s": 60, "poll_wait_s": 1},
    "coalescer": {"delay_s": 2, "poll_wait_s": 1},
}

# A week of history per fake user: syncs move a handful of items instead of ~50 (90 days by default).
QUICK_FAKES = {"history_days": 7}


def poll(fetch: Callable[[], Any], until: Callable[[Any], bool], timeout_s: float = 60.0,
         interval_s: float = 0.2) -> Any:
    """Call ``fetch`` until ``until(value)``; return the value, or fail with the last one seen."""
    deadline = time.monotonic() + timeout_s
    value = fetch()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; last value: {value!r}")
        time.sleep(interval_s)
        value = fetch()
    return value


def submit_sync(stack: Stack, user: SeededUser, key: str | None = None) -> httpx.Response:
    return httpx.post(f"{stack.api_url}/v1/sync-jobs", json=sync_body(user),
                      headers=auth_headers(stack, user.user_id, key or f"e2e-{uuid.uuid4()}"), timeout=30)


def job_status(stack: Stack, user: SeededUser, job_id: str) -> str:
    response = httpx.get(f"{stack.api_url}/v1/sync-jobs/{job_id}", headers=auth_headers(stack, user.user_id),
                         timeout=30)
    return str(response.json().get("status")) if response.status_code == 200 else f"HTTP {response.status_code}"


def wait_until_terminal(stack: Stack, user: SeededUser, job_id: str, timeout_s: float = 90.0) -> str:
    """The job's status once it is SUCCEEDED or DEAD_LETTERED (FAILED is retried, so not final)."""
    return str(poll(lambda: job_status(stack, user, job_id), lambda s: s in TERMINAL, timeout_s))


def fake_writes(stack: Stack, provider: str, provider_user_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.fake_url(provider)}/_fake/writes", params={"user_id": provider_user_id}, timeout=10)
    return list(response.json()["writes"])


def fake_calls_for(stack: Stack, provider: str, provider_user_id: str) -> int:
    """Every API call the fake served for one of its users (all routes)."""
    counters = httpx.get(f"{stack.fake_url(provider)}/_fake/counters", timeout=10).json()
    return sum(int(per_user.get(provider_user_id, 0)) for per_user in counters.get("calls", {}).values())


def health(stack: Stack, name: str) -> dict[str, Any]:
    return httpx.get(str(stack.health_url(name)), timeout=10).json()


def counter(stack: Stack, name: str, key: str) -> int:
    body = health(stack, name)
    return int(body.get("counters", body).get(key, 0))
