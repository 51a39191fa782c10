"""The rehearsal's traffic: an open-model stream of manual syncs (``POST /v1/sync-jobs``) through the router, by
the seeded users, with Poisson arrivals from a seeded generator. Every answer is recorded with its times and the
region that served it (``X-Swsim-Region``); a 202 is an *acknowledged write* (the job item is in that region's
table), the subject of the RPO."""
from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from stack.seed import SeededUser

REQUEST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Attempt:
    sent: float          # time.time() when sent
    done: float
    status: int          # HTTP status, 0 = no answer (timeout / connection error)
    region: str | None   # the region that answered (router header)
    user_id: str
    job_id: str | None

    @property
    def acknowledged(self) -> bool:
        return self.status == 202 and self.job_id is not None


@dataclass
class SyncLoad:
    """Runs in its own thread (its own event loop) until :meth:`stop`."""

    base_url: str
    users: list[SeededUser]
    tokens: dict[str, str]
    rate_per_s: float
    seed: int | str = 1
    attempts: list[Attempt] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "SyncLoad":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="region-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Attempt]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT_S + 5)
        return list(self.attempts)

    async def _run(self) -> None:
        rng = random.Random(self.seed)
        pending: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                next_at += rng.expovariate(self.rate_per_s)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                user = self.users[rng.randrange(len(self.users))]
                task = asyncio.create_task(self._submit(client, user, uuid.UUID(int=rng.getrandbits(128)).hex))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending, timeout=REQUEST_TIMEOUT_S + 1)

    async def _submit(self, client: httpx.AsyncClient, user: SeededUser, key: str) -> None:
        pair = user.pairs[0]
        body = {"sourceConnectionId": pair.source_connection_id,
                "destinationConnectionId": pair.destination_connection_id,
                "dataType": pair.data_type, "mode": "manual"}
        headers = {"Authorization": f"Bearer {self.tokens[user.user_id]}", "Idempotency-Key": key}
        sent = time.time()
        status, region, job_id = 0, None, None
        try:
            response = await client.post("/v1/sync-jobs", json=body, headers=headers)
            status, region = response.status_code, response.headers.get("x-swsim-region")
            if status == 202:
                job_id = _job_id(response.json())
        except httpx.HTTPError:
            pass
        self.attempts.append(Attempt(sent, time.time(), status, region, user.user_id, job_id))


def _job_id(body: Any) -> str | None:
    return str(body["jobId"]) if isinstance(body, dict) and body.get("jobId") else None
