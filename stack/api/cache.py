"""The API's read-path cache in Redis (001 "Caching Strategy": cache-aside; a failed cache read or write is
logged and the request is served from DynamoDB, so Redis is never a dependency of correctness).

What is cached, under the seed's key names:

============================  ====================================================  =====  =========================
key                           value                                                 TTL    invalidated by
============================  ====================================================  =====  =========================
``config##{userId}``          hash, field ``connections``: the user's CONN# items   15 min connection deletion, account
                              (the "User Sync Config" row: what every /v1 read of           deletion, and any terminal
                              the user's configuration needs)                               job status the API reads
``jobs##{userId}``            hash, field ``{jobId}``: the job view, SUCCEEDED only  15 min account deletion
============================  ====================================================  =====  =========================

Staleness, and why it is bounded:
- The API's own writes (DELETE /v1/connections/{id}, DELETE /v1/users/me) invalidate the entry before they answer.
- The worker writes a connection's status (``needs_reauth`` on a revoked grant) as a job ends. The API cannot see
  that write, so whenever it reads a job in a terminal state (SUCCEEDED, FAILED, DEAD_LETTERED) it drops the
  user's ``config##`` entry too: a client that follows its job sees the connection's new status at once. Other
  worker-side changes show after at most the TTL (``api.config_cache_ttl_s``, the seed's 15 min); a worker that
  wants them visible at once deletes ``config##{userId}`` (:func:`config_key`) after its write.
- Job statuses are cached only once SUCCEEDED, the one status nothing changes afterwards (the DLQ consumer puts
  DEAD_LETTERED and FAILED jobs back to QUEUED on a redrive): a cached job can never show a stale status.
- Cache-aside race (a reader fills the cache with what it read just before a writer's invalidation): every
  invalidation bumps a per-user generation; a reader fills the cache only if the generation it saw before its
  DynamoDB read is still current (one Lua script), so an invalidated value is never written back.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.logs import RateLimitedLogger

log = logging.getLogger("syncwell.api.cache")
CONNECTIONS_FIELD = "connections"
GENERATION_TTL_S = 2 * 86400         # outlives every entry it guards
CACHEABLE_JOB_STATUSES = frozenset({"SUCCEEDED"})
TERMINAL_JOB_STATUSES = frozenset({"SUCCEEDED", "FAILED", "DEAD_LETTERED"})
# What GET /v1/sync-jobs/{jobId} shows of a JOB# item (the cached copy keeps only these).
JOB_VIEW_FIELDS = ("jobId", "status", "progress", "itemsWritten", "error", "createdAt", "updatedAt", "dataType",
                   "mode")

# KEYS[1] hash, KEYS[2] generation; ARGV field, value, ttl_s, expected generation ("" = none yet).
# Writes the field only if nobody invalidated the entry since the caller read the generation; the TTL is set when
# the hash is created, so a later field never extends the life of an older one.
_FILL_LUA = """
local generation = redis.call('GET', KEYS[2]) or ''
if generation ~= ARGV[4] then return 0 end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if existed == 0 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
return 1
"""


def config_key(user_id: str) -> str:
    return f"config##{user_id}"


def jobs_key(user_id: str) -> str:
    return f"jobs##{user_id}"


def generation_key(user_id: str) -> str:
    return f"configgen##{user_id}"


@dataclass(frozen=True)
class Lookup:
    """A cache read: ``value`` when it hit, else the generation to hand back to :meth:`ReadCache.fill`."""

    hit: bool
    value: Any = None
    generation: str | None = None      # None: the cache is unavailable, do not try to fill it


MISS_UNAVAILABLE = Lookup(False)


class ReadCache:
    def __init__(self, redis_url: str, *, ttl_s: float = 900.0, job_ttl_s: float = 900.0, timeout_s: float = 0.5,
                 fail_open_s: float = 1.0) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             max_connections=256, health_check_interval=0)
        self.ttl_s = int(ttl_s)
        self.job_ttl_s = int(job_ttl_s)
        self.enabled = ttl_s > 0
        self.fail_open_s = fail_open_s
        self._fill = self.redis.register_script(_FILL_LUA)
        self._skip_until = 0.0
        self._warn = RateLimitedLogger(log, 5.0)
        self.hits = 0
        self.misses = 0

    # ---- the user's configuration (connections) ------------------------------------------------------------
    async def connections(self, user_id: str) -> Lookup:
        return await self._lookup(config_key(user_id), CONNECTIONS_FIELD, user_id)

    async def fill_connections(self, user_id: str, lookup: Lookup, connections: list[dict[str, Any]]) -> None:
        await self._fill_field(config_key(user_id), CONNECTIONS_FIELD, user_id, lookup, connections, self.ttl_s)

    # ---- jobs ------------------------------------------------------------------------------------------------
    async def job(self, user_id: str, job_id: str) -> Lookup:
        return await self._lookup(jobs_key(user_id), job_id, user_id)

    async def fill_job(self, user_id: str, lookup: Lookup, view: dict[str, Any]) -> None:
        if view.get("status") in CACHEABLE_JOB_STATUSES:
            trimmed = {name: view[name] for name in JOB_VIEW_FIELDS if name in view}
            await self._fill_field(jobs_key(user_id), str(view["jobId"]), user_id, lookup, trimmed, self.job_ttl_s)

    # ---- invalidation ----------------------------------------------------------------------------------------
    async def invalidate_config(self, user_id: str) -> None:
        """The user's configuration changed (or may have): drop it and fence off in-flight fills."""
        await self._invalidate(user_id, config_key(user_id))

    async def invalidate_user(self, user_id: str) -> None:
        """Everything cached about the user (account deletion)."""
        await self._invalidate(user_id, config_key(user_id), jobs_key(user_id))

    # ---- mechanics -------------------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.enabled and time.monotonic() >= self._skip_until

    async def _lookup(self, key: str, field: str, user_id: str) -> Lookup:
        if not self.available:
            return MISS_UNAVAILABLE
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hget(key, field)
                pipe.get(generation_key(user_id))
                raw, generation = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return MISS_UNAVAILABLE
        if raw is not None:
            self.hits += 1
            return Lookup(True, orjson.loads(raw))
        self.misses += 1
        return Lookup(False, generation=(generation or b"").decode())

    async def _fill_field(self, key: str, field: str, user_id: str, lookup: Lookup, value: Any, ttl_s: int) -> None:
        if lookup.generation is None or not self.available:
            return
        try:
            await self._fill(keys=[key, generation_key(user_id)],
                             args=[field, orjson.dumps(value), ttl_s, lookup.generation])
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def _invalidate(self, user_id: str, *keys: str) -> None:
        if not self.enabled:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(generation_key(user_id))
                pipe.expire(generation_key(user_id), GENERATION_TTL_S)
                pipe.delete(*keys)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # The entry may survive its TTL: say so loudly (cache-aside accepts a miss, not a silent stale hit).
            self._failed(exc)
            log.error("cache invalidation failed; entries may stay stale until their TTL",
                      extra={"fields": {"userId": user_id, "keys": list(keys), "error": type(exc).__name__}})

    def _failed(self, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + self.fail_open_s
        self._warn.warning("redis", "read cache bypassed: redis unavailable", error=type(exc).__name__)

    async def close(self) -> None:
        await self.redis.aclose()
