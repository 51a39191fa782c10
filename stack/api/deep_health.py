"""``GET /health/deep``: the region's own dependencies as a health check can see them.

``/health`` says only that the process serves requests, so a Route 53 check on it keeps passing while the region's
DynamoDB answers 503 to every write (docs/region-failover.md). The deep check makes one cheap call per dependency
the write path needs: a GetItem of a fixed key that never exists (DynamoDB) and a GetQueueAttributes of the hot-path
queue (SQS), both at once and each bounded by ``timeout_s``. The verdict is kept ``ttl_s`` and concurrent checks
share one probe, so a storm of checks (every Route 53 checker, every router) costs at most one pair of calls per
``ttl_s``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from botocore.exceptions import ClientError

from stack.api.aws import AwsClients, error_code
from stack.api.context import QueueUrls
from stack.api.errors import DependencyUnavailable
from stack.api.logs import log_fields
from stack.api.store import key

log = logging.getLogger("syncwell.api.health")

SENTINEL_PK = "HEALTH#deep"     # never written: GetItem of a missing key is as cheap as DynamoDB reads get
SENTINEL_SK = "HEALTH#deep"


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok" if self.ok else "unavailable", "latencyMs": round(self.latency_ms, 1)}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Verdict:
    dependencies: tuple[DependencyStatus, ...]
    checked_at: float        # time.monotonic() when the probe finished

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.dependencies)

    @property
    def failed(self) -> list[str]:
        return [d.name for d in self.dependencies if not d.ok]

    def body(self, now: float) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "unavailable", "service": "api",
                "dependencies": {d.name: d.body() for d in self.dependencies}, "failed": self.failed,
                "ageMs": round(max(0.0, now - self.checked_at) * 1000, 1)}


class DeepHealth:
    def __init__(self, aws: AwsClients, table: str, queues: QueueUrls, queue: str, *, ttl_s: float = 1.0,
                 timeout_s: float = 1.0) -> None:
        self.aws = aws
        self.table = table
        self.queues = queues
        self.queue = queue
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.probes = 0                      # how many probes ran (the cache's effect, for tests and logs)
        self._last: Verdict | None = None
        self._lock = asyncio.Lock()

    async def verdict(self) -> Verdict:
        """The cached verdict while fresh, else a new probe (one at a time: waiters reuse its result)."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            self.probes += 1
            dependencies = await asyncio.gather(self._timed("dynamodb", self._dynamodb),
                                                self._timed("sqs", self._sqs))
            self._last = Verdict(tuple(dependencies), time.monotonic())
            if not self._last.ok:     # once per probe, not per check: a check storm must not flood the logs
                log_fields(log, logging.WARNING, "deep health check failed", failed=self._last.failed,
                           details={d.name: d.detail for d in dependencies if d.detail})
            return self._last

    def _fresh(self) -> Verdict | None:
        last = self._last
        return last if last is not None and time.monotonic() - last.checked_at < self.ttl_s else None

    async def _timed(self, name: str, probe: Callable[[], Awaitable[None]]) -> DependencyStatus:
        started = time.perf_counter()
        detail = ""
        try:
            await asyncio.wait_for(probe(), self.timeout_s)
        except asyncio.TimeoutError:
            detail = f"no answer within {self.timeout_s:g} s"
        except DependencyUnavailable as exc:
            detail = exc.detail
        except ClientError as exc:        # e.g. ResourceNotFound: the table or queue is gone, as bad as down
            detail = error_code(exc) or "client error"
        return DependencyStatus(name, not detail, (time.perf_counter() - started) * 1000, detail)

    async def _dynamodb(self) -> None:
        await self.aws.call("dynamodb", self.aws.dynamodb.get_item, TableName=self.table,
                            Key=key(SENTINEL_PK, SENTINEL_SK))

    async def _sqs(self) -> None:
        url = await self.queues.url(self.queue)
        await self.aws.call("sqs", self.aws.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"])
