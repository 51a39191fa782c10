"""Rate limits kept in Redis so every API process shares them [004 §3.1, 001 §6.2]:

- per user: a token bucket, ``user_rate_per_s`` tokens per second, ``user_burst`` capacity (10/s, burst 20);
- per client IP (the WAF's rate-based rule): ``ip_limit`` requests per sliding ``ip_window_s`` (1,000 / 5 min).

Both are one atomic Lua script each, timed by Redis's own clock so several API processes agree. If Redis is
unreachable the API fails OPEN (serves without limits, logs it, and skips Redis for ``fail_open_s`` so a dead
Redis costs nothing per request); it is the worker, not the API, that must stop third-party calls then.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.logs import RateLimitedLogger

log = logging.getLogger("syncwell.api.ratelimit")

# KEYS[1] bucket; ARGV rate/s, burst. Returns {allowed, retry_after_ms}.
_CLOCK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""


def _spend_token_lua(key: str, rate: str, burst: str) -> str:
    """Lua that refills the bucket at ``key`` to now and spends one token; returns {allowed, retry_ms}.
    Shared by the single-bucket script and the combined one (their KEYS/ARGV positions differ)."""
    return f"""local rate = tonumber({rate})
local burst = tonumber({burst})
local state = redis.call('HMGET', {key}, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', {key}, 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', {key}, math.ceil(burst / rate * 1000) + 1000)
return {{allowed, retry_ms}}
"""


TOKEN_BUCKET_LUA = _CLOCK_LUA + _spend_token_lua("KEYS[1]", "ARGV[1]", "ARGV[2]")

# KEYS[1] counter prefix; ARGV limit, window seconds. A sliding-window estimate over two fixed windows
# (previous count weighted by the part of it still inside the window, plus the current count), so a client
# cannot double its quota across a window boundary. Returns {estimate, retry_after_s}.
SLIDING_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local elapsed = now - index * window
local key = KEYS[1] .. ':' .. index
local count = redis.call('INCR', key)
if count == 1 then redis.call('EXPIRE', key, 2 * window + 5) end
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (index - 1)) or '0')
local estimate = math.floor(previous * (1 - elapsed / window) + count)
local retry = 0
if estimate > tonumber(ARGV[1]) then retry = math.ceil(window - elapsed) end
return {estimate, retry}
"""

# Both checks of an authenticated /v1 request in ONE round trip: KEYS[1] ip counter prefix, KEYS[2] user bucket;
# ARGV ip limit, ip window, user rate, user burst. The user's token is only spent when the address is allowed.
COMBINED_LUA = _CLOCK_LUA + """local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local elapsed = now - index * window
local ip_key = KEYS[1] .. ':' .. index
local count = redis.call('INCR', ip_key)
if count == 1 then redis.call('EXPIRE', ip_key, 2 * window + 5) end
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (index - 1)) or '0')
if math.floor(previous * (1 - elapsed / window) + count) > tonumber(ARGV[1]) then
  return {0, math.ceil(window - elapsed) * 1000}
end
""" + _spend_token_lua("KEYS[2]", "ARGV[3]", "ARGV[4]")


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0


ALLOW = RateDecision(True)


class RateLimiter:
    def __init__(self, redis_url: str, *, user_rate_per_s: float, user_burst: int, ip_limit: int,
                 ip_window_s: int, timeout_s: float = 0.5, fail_open_s: float = 1.0) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             max_connections=256, health_check_interval=0)
        self.user_rate_per_s = user_rate_per_s
        self.user_burst = user_burst
        self.ip_limit = ip_limit
        self.ip_window_s = ip_window_s
        self.fail_open_s = fail_open_s
        self._bucket = self.redis.register_script(TOKEN_BUCKET_LUA)
        self._window = self.redis.register_script(SLIDING_WINDOW_LUA)
        self._combined = self.redis.register_script(COMBINED_LUA)
        self._skip_until = 0.0
        self.healthy = True          # outcome of the last Redis call (reported by /health)
        self._warn = RateLimitedLogger(log, 5.0)

    @property
    def redis_available(self) -> bool:
        """False while failing open after an error (Redis is not even tried until ``fail_open_s`` passed)."""
        return time.monotonic() >= self._skip_until

    async def check_user(self, user_id: str) -> RateDecision:
        result = await self._run(self._bucket, f"rl:user:{user_id}", self.user_rate_per_s, self.user_burst)
        if result is None or int(result[0]) == 1:
            return ALLOW
        return RateDecision(False, max(1, math.ceil(int(result[1]) / 1000)))

    async def check_user_and_ip(self, user_id: str, ip: str) -> RateDecision:
        """The per-address and per-user limits of one authenticated request, in one Redis round trip."""
        result = await self._run2(self._combined, [f"rl:ip:{ip}", f"rl:user:{user_id}"], self.ip_limit,
                                  self.ip_window_s, self.user_rate_per_s, self.user_burst)
        if result is None or int(result[0]) == 1:
            return ALLOW
        return RateDecision(False, max(1, math.ceil(int(result[1]) / 1000)))

    async def check_ip(self, ip: str) -> RateDecision:
        result = await self._run(self._window, f"rl:ip:{ip}", self.ip_limit, self.ip_window_s)
        if result is None or int(result[0]) <= self.ip_limit:
            return ALLOW
        return RateDecision(False, max(1, int(result[1])))

    async def _run(self, script, key: str, *args: float) -> list | None:
        return await self._run2(script, [key], *args)

    async def _run2(self, script, keys: list[str], *args: float) -> list | None:
        if not self.redis_available:
            return None
        try:
            result = await script(keys=keys, args=list(args))
            self.healthy = True
            return result
        except (RedisError, OSError) as exc:
            self.healthy = False
            self._skip_until = time.monotonic() + self.fail_open_s
            self._warn.warning("redis", "rate limiting disabled: redis unavailable (failing open)",
                               error=type(exc).__name__)
            return None

    async def close(self) -> None:
        await self.redis.aclose()
