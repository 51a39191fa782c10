"""Distributed token bucket per provider: one atomic Lua script in Redis, called with EVALSHA [R-003].

Redis unreachable is treated exactly like an empty bucket (``NoToken`` with reason ``redis_unavailable``): while
Redis is down the worker makes NO third-party call; jobs are delayed, never failed. After a connection error the
bucket stays "open" (refusing without touching Redis) for ``probe_interval_s`` so a dead Redis costs one connect
timeout per interval, not one per job.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import redis

LUA_PATH = Path(__file__).with_name("tokenbucket.lua")


@dataclass(frozen=True)
class BucketSpec:
    rate_per_s: float
    burst: float


class NoToken(Exception):
    """No token for this provider right now. ``retry_after_s`` is a hint (0 when unknown)."""

    def __init__(self, provider: str, reason: str, retry_after_s: float = 0.0) -> None:
        super().__init__(f"no token for {provider}: {reason}")
        self.provider = provider
        self.reason = reason
        self.retry_after_s = retry_after_s


class TokenBuckets:
    def __init__(self, redis_url: str, specs: Mapping[str, BucketSpec], *, key_prefix: str = "syncwell:tb:",
                 socket_timeout_s: float = 0.5, probe_interval_s: float = 1.0, progress_tokens: int = 4) -> None:
        """``progress_tokens``: the calls a job needs to make progress (list source, list destination, hydrate
        and write one item). A refused job is told to come back when that many tokens will be there, not one:
        otherwise retries arriving one token at a time would each spend it on listing and never write."""
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=socket_timeout_s,
                                           socket_connect_timeout=socket_timeout_s, retry_on_timeout=False)
        self._script = self._redis.register_script(LUA_PATH.read_text())  # EVALSHA, SCRIPT LOAD on NOSCRIPT
        self._specs = dict(specs)
        self._prefix = key_prefix
        self._probe_interval_s = probe_interval_s
        self._progress_tokens = progress_tokens
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """False while Redis is known to be down (cheap: no network call)."""
        return time.monotonic() >= self._down_until

    def take(self, provider: str, tokens: int = 1) -> None:
        """Take ``tokens`` from the provider's bucket or raise ``NoToken``."""
        if not self.available:
            raise NoToken(provider, "redis_unavailable", self._probe_interval_s)
        spec = self._specs.get(provider)
        if spec is None:
            raise KeyError(f"no token bucket configured for provider {provider!r}")
        try:
            granted, wait_ms, left = self._script(keys=[self._prefix + provider],
                                                  args=[spec.rate_per_s, spec.burst, tokens])
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            with self._lock:
                self._down_until = time.monotonic() + self._probe_interval_s
            raise NoToken(provider, "redis_unavailable", self._probe_interval_s) from exc
        except redis.ResponseError as exc:  # e.g. a Redis that refuses scripts, or is loading: still no call
            raise NoToken(provider, f"redis_error: {exc}", self._probe_interval_s) from exc
        if not int(granted):
            progress = min(float(self._progress_tokens), spec.burst)
            wait_s = max(int(wait_ms) / 1000.0, (progress - int(left)) / spec.rate_per_s)
            raise NoToken(provider, "bucket_empty", wait_s)

    @property
    def redis(self) -> redis.Redis:
        """The client the buckets use: other small worker writes to the same Redis share its pool and timeouts."""
        return self._redis

    def close(self) -> None:
        self._redis.close()
