"""A small driver of real syncs through a running stack (``swsim demo``, the end-to-end tests).

For each chosen seeded user: mint a token (Firebase-like issuer), ``POST /v1/sync-jobs`` with an
Idempotency-Key for the user's first sync pair, then poll ``GET /v1/sync-jobs/{id}`` until the job is terminal.
Latency is measured per job from the POST to the first poll that sees it terminal (so it is an upper bound by
at most one poll interval). The Locust load engine replaces this for real load.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from stack.launcher.stack import Stack
from stack.seed import SeededUser

# FAILED is not terminal: the message is retried until SUCCEEDED or, after 5 receives, DEAD_LETTERED.
TERMINAL = ("SUCCEEDED", "DEAD_LETTERED")
POLL_INTERVAL_S = 0.1
RETRIES = 3


@dataclass
class JobOutcome:
    user_id: str
    job_id: str | None
    status: str
    latency_s: float | None
    http_status: int


@dataclass
class BurstReport:
    outcomes: list[JobOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.outcomes if o.http_status == 202)

    def latency_percentiles(self) -> dict[str, float]:
        latencies = sorted(o.latency_s for o in self.outcomes if o.latency_s is not None and o.status == "SUCCEEDED")
        if not latencies:
            return {}

        def pick(q: float) -> float:
            return latencies[min(len(latencies) - 1, max(0, int(round(q * len(latencies) + 0.5)) - 1))]
        return {"p50": pick(0.50), "p95": pick(0.95), "max": latencies[-1]}


def sync_body(user: SeededUser) -> dict[str, Any]:
    pair = user.pairs[0]
    return {"sourceConnectionId": pair.source_connection_id,
            "destinationConnectionId": pair.destination_connection_id,
            "dataType": pair.data_type, "mode": "manual", "priority": "high"}


def auth_headers(stack: Stack, user_id: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {stack.minter.mint('firebase', user_id)}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


async def _one_job(client: httpx.AsyncClient, stack: Stack, user: SeededUser, deadline: float) -> JobOutcome:
    headers = auth_headers(stack, user.user_id, f"demo-{uuid.uuid4()}")
    started = time.monotonic()
    response = await client.post("/v1/sync-jobs", json=sync_body(user), headers=headers)
    for _ in range(RETRIES):  # as a mobile client does: 429/503 with Retry-After, same Idempotency-Key
        if response.status_code not in (429, 503):
            break
        await asyncio.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
        response = await client.post("/v1/sync-jobs", json=sync_body(user), headers=headers)
    if response.status_code != 202:
        return JobOutcome(user.user_id, None, f"HTTP {response.status_code}", None, response.status_code)
    job_id = response.json()["jobId"]
    status = "QUEUED"
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_INTERVAL_S)
        polled = await client.get(f"/v1/sync-jobs/{job_id}", headers={"Authorization": headers["Authorization"]})
        if polled.status_code == 200:
            status = str(polled.json().get("status", status))
            if status in TERMINAL:
                return JobOutcome(user.user_id, job_id, status, time.monotonic() - started, 202)
    return JobOutcome(user.user_id, job_id, status if status == "FAILED" else f"{status} (timed out)", None, 202)


async def _burst(stack: Stack, users: list[SeededUser], timeout_s: float, concurrency: int) -> list[JobOutcome]:
    deadline = time.monotonic() + timeout_s
    limits = httpx.Limits(max_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=str(stack.api_url), timeout=30, limits=limits) as client:
        async def guarded(user: SeededUser) -> JobOutcome:
            async with gate:
                return await _one_job(client, stack, user, deadline)
        return list(await asyncio.gather(*(guarded(u) for u in users)))


def run_sync_burst(stack: Stack, jobs: int = 20, timeout_s: float = 30.0, concurrency: int = 20) -> BurstReport:
    """Submit ``jobs`` manual syncs (one per seeded user, round robin) and wait for each to finish."""
    if not stack.api_url:
        raise RuntimeError("the stack runs no API")
    if not stack.users:
        raise RuntimeError("the stack has no seeded users (start it with users > 0)")
    chosen = [stack.users[i % len(stack.users)] for i in range(jobs)]
    started = time.monotonic()
    outcomes = asyncio.run(_burst(stack, chosen, timeout_s, concurrency))
    return BurstReport(outcomes, time.monotonic() - started)
