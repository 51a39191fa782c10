"""The worker's side of the API's read cache (stack/api/cache.py): drop a user's ``config##{userId}`` entry when the
worker changes what it holds.

That entry caches the user's CONN# items, and the only CONN# write the worker makes is a connection's status
(``needs_reauth`` on a revoked grant). Without this, GET /v1/connections could keep showing the connection
``active`` for the entry's TTL (15 min) unless the client happened to read the job first (the API drops the entry
when it reads a terminal job). Sync configs, job items, locks and tokens are not in that entry, so nothing else the
worker writes needs it.

The invalidation is the API's own (same keys, same Lua-free pipeline): bump the user's generation, then delete the
entry, in one MULTI. The generation bump fences off an API reader that read DynamoDB just before our write and is
about to fill the cache with the old status (its fill is conditional on the generation it saw).

Best effort after the state write: Redis down means the entry lives to its TTL (logged); the job's result is
already durable and the API still drops the entry when it reads the job's terminal status.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

import redis

from stack.api.cache import GENERATION_TTL_S, config_key, generation_key

log = logging.getLogger("syncwell.worker.configcache")


class ConfigCacheInvalidator:
    def __init__(self, client: Any) -> None:
        """``client``: a synchronous ``redis.Redis`` (the worker shares its token buckets' connection pool)."""
        self._redis = client
        self.invalidated = 0

    def invalidate(self, user_ids: Iterable[str]) -> int:
        """Drop the users' cached configuration; returns how many users were invalidated (0 when Redis is down)."""
        users = sorted(set(user_ids))
        if not users or self._redis is None:
            return 0
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                for user_id in users:
                    pipe.incr(generation_key(user_id))
                    pipe.expire(generation_key(user_id), GENERATION_TTL_S)
                    pipe.delete(config_key(user_id))
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not drop the API's cached configuration; it shows the old status until its TTL",
                        extra={"reason": type(exc).__name__, "users": len(users)})
            return 0
        self.invalidated += len(users)
        return len(users)
