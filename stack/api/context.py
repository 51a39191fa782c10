"""Everything a request handler needs, created once per process at startup (clients, caches, limiter)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError
from starlette.requests import Request

from stack import schema
from stack.api.authorizer import Authorizer, Principal
from stack.api.aws import AwsClients, error_code
from stack.api.cache import TERMINAL_JOB_STATUSES, ReadCache
from stack.api.errors import ApiError, DependencyUnavailable
from stack.api.ratelimit import RateLimiter
from stack.api.store import Store
from stack.config import StackConfig

log = logging.getLogger("syncwell.api")
V = TypeVar("V")
_MISSING = object()


def _too_many(retry_after_s: int, scope: str) -> ApiError:
    return ApiError(429, "rate_limited", f"too many requests for this {scope}", {"Retry-After": str(retry_after_s)})


class TtlCache(Generic[V]):
    """A small bounded LRU whose entries expire; enough for secrets and provider-user mappings."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | object:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return _MISSING
        self._entries.move_to_end(key)
        return entry[1]

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def put(self, key: str, value: V, ttl_s: float | None = None) -> None:
        self._entries[key] = (time.monotonic() + (self.ttl_s if ttl_s is None else ttl_s), value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class QueueUrls:
    """Queue name -> URL, resolved once (GetQueueUrl) and cached."""

    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws
        self._urls: dict[str, str] = {}

    async def url(self, name: str) -> str:
        if name not in self._urls:
            try:
                response = await self.aws.call("sqs", self.aws.sqs.get_queue_url, QueueName=name)
            except ClientError as exc:
                raise DependencyUnavailable("sqs", f"queue {name} not found ({error_code(exc)})") from exc
            self._urls[name] = response["QueueUrl"]
        return self._urls[name]


@dataclass
class ApiContext:
    config: StackConfig
    aws: AwsClients
    store: Store
    authorizer: Authorizer
    limiter: RateLimiter
    queues: QueueUrls
    provider_secrets: TtlCache[dict[str, Any] | None] = field(default_factory=lambda: TtlCache(16, 300.0))
    provider_users: TtlCache[str | None] = field(default_factory=lambda: TtlCache(100_000, 60.0))
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    outcomes: Any = None        # jobs.EnqueueOutcomes (set by the app; typed loosely to avoid an import cycle)
    cache: ReadCache | None = None   # the Redis read-path cache (stack.api.cache); None = always read DynamoDB

    def tune(self, key: str, default: Any) -> Any:
        return self.config.tuning.get("api", {}).get(key, default)

    async def principal(self, request: Request) -> Principal:
        """Authenticate, then apply the per-address (WAF, 1,000 / 5 min) and per-user (10 req/s, burst 20
        [004 §3.1]) limits in one Redis round trip. A refused token still counts against its address."""
        ip = request.scope.get("state", {}).get("client_ip")
        try:
            principal = await self.authorizer.authenticate(request.headers.get("authorization"))
        except ApiError:
            refused = await self.limiter.check_ip(ip) if ip else None
            if refused is not None and not refused.allowed:
                raise _too_many(refused.retry_after_s, "address") from None
            raise
        decision = (await self.limiter.check_user_and_ip(principal.user_id, ip) if ip
                    else await self.limiter.check_user(principal.user_id))
        if not decision.allowed:
            raise _too_many(decision.retry_after_s, "user or address")
        return principal

    async def provider_secret(self, provider: str) -> dict[str, Any] | None:
        """The provider app's client secret and webhook verification codes (Secrets Manager, cached 5 min)."""
        cached = self.provider_secrets.get(provider)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        try:
            response = await self.aws.call("secretsmanager", self.aws.secrets.get_secret_value,
                                           SecretId=schema.provider_app_secret_name(provider))
            secret: dict[str, Any] | None = json.loads(response["SecretString"])
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise DependencyUnavailable("secretsmanager", error_code(exc)) from exc
            log.error("provider app secret missing", extra={"fields": {"provider": provider}})
            secret = None
        self.provider_secrets.put(provider, secret, None if secret else 5.0)
        return secret

    async def user_for_provider_user(self, provider: str, provider_user_id: str) -> str | None:
        cache_key = f"{provider}#{provider_user_id}"
        cached = self.provider_users.get(cache_key)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        user_id = await self.store.user_for_provider_user(provider, provider_user_id)
        self.provider_users.put(cache_key, user_id, None if user_id else 5.0)
        return user_id

    async def user_connections(self, user_id: str) -> list[dict[str, Any]]:
        """The user's connections (CONN# items): ``config##{userId}`` in Redis, else one DynamoDB Query that
        fills it (cache-aside, see stack.api.cache for what invalidates it)."""
        if self.cache is None:
            return await self.store.list_connections(user_id)
        lookup = await self.cache.connections(user_id)
        if lookup.hit:
            return lookup.value  # type: ignore[no-any-return]
        connections = await self.store.list_connections(user_id)
        await self.cache.fill_connections(user_id, lookup, connections)
        return connections

    async def user_job(self, user_id: str, job_id: str) -> dict[str, Any] | None:
        """One of the user's sync jobs: a SUCCEEDED one from the cache, anything else read from DynamoDB.
        Reading a terminal status also drops the user's cached configuration: the worker may have changed a
        connection (needs_reauth) as the job ended."""
        lookup = await self.cache.job(user_id, job_id) if self.cache is not None else None
        if lookup is not None and lookup.hit:
            return lookup.value  # type: ignore[no-any-return]
        job = await self.store.get_job(user_id, job_id)
        if job is not None and self.cache is not None and job.get("status") in TERMINAL_JOB_STATUSES:
            assert lookup is not None
            await self.cache.fill_job(user_id, lookup, job)     # before the invalidation, which fences fills
            await self.cache.invalidate_config(user_id)
        return job

    async def forget_connections(self, user_id: str) -> None:
        if self.cache is not None:
            await self.cache.invalidate_config(user_id)

    async def forget_user(self, user_id: str) -> None:
        if self.cache is not None:
            await self.cache.invalidate_user(user_id)

    def spawn(self, coro: Any) -> None:
        """Run work after the response (exports, account deletion), keeping a reference so it is not GC'd."""
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
