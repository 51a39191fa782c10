"""The edge of the API as one pure-ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware):

- a correlation id for every request (the caller's ``X-Correlation-Id`` when it is a sane token, else a new
  one), set in a context variable for every log line and returned as a response header;
- the per-IP rate limit (the WAF's 1,000 requests / 5 min rule) before anything else runs;
- one structured access-log line per request: correlationId, method, path (never the query string, which can
  hold webhook verification tokens), status, duration_ms; never headers, tokens or bodies;
- any unexpected exception becomes a JSON 500 with the correlation id (and a logged traceback).
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Awaitable, Callable

import orjson

from stack.api.logs import correlation_id_var, log_fields
from stack.api.ratelimit import RateLimiter

log = logging.getLogger("syncwell.api.access")
CORRELATION_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
HEALTH_PATHS = ("/health", "/health/deep")  # health checkers (Route 53, the router) are neither limited nor logged
UNLIMITED_PATHS = (*HEALTH_PATHS, "/openapi.json", "/openapi.yaml")
USER_LIMITED_PREFIX = "/v1/"     # these check the address together with the user (ApiContext.principal)
Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


LOOPBACK = ("127.", "::1")


def client_ip(scope: Scope, ip_header: bytes | None, exempt_loopback: bool = True) -> str | None:
    """The client address the per-address limit applies to, or None when it does not apply.

    In production CloudFront/API Gateway report the client in X-Forwarded-For; locally the load generator plays
    the edge and gives each simulated device its own address there. A loopback peer that names no client is the
    local harness itself (every simulated user at once), not one abusive client: it is exempt unless
    ``api.exempt_loopback`` is false.
    """
    if ip_header:
        forwarded = _header(scope, ip_header)
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if exempt_loopback and peer.startswith(LOOPBACK):
        return None
    return peer


async def _send_json(send: Callable[[Message], Awaitable[None]], status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]]) -> None:
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, limiter_of: Callable[[], RateLimiter | None], ip_header: str = "",
                 exempt_loopback: bool = True) -> None:
        self.app = app
        self.limiter_of = limiter_of
        self.ip_header = ip_header.lower().encode() if ip_header else None
        self.exempt_loopback = exempt_loopback

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = _header(scope, b"x-correlation-id")
        correlation_id = supplied if supplied and CORRELATION_ID_PATTERN.match(supplied) else uuid.uuid4().hex
        token = correlation_id_var.set(correlation_id)
        correlation_header = (b"x-correlation-id", correlation_id.encode())
        status_holder = [0]

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), correlation_header]
            await send(message)

        path = scope.get("path", "")
        try:
            limiter = self.limiter_of()
            ip = client_ip(scope, self.ip_header, self.exempt_loopback)
            scope.setdefault("state", {})["client_ip"] = ip
            if limiter is not None and ip is not None and path not in UNLIMITED_PATHS \
                    and not path.startswith(USER_LIMITED_PREFIX):
                decision = await limiter.check_ip(ip)
                if not decision.allowed:
                    await _send_json(send_with_header, 429, {"error": {
                        "code": "rate_limited", "message": "too many requests from this address",
                        "correlationId": correlation_id}},
                        [(b"retry-after", str(decision.retry_after_s).encode())])
                    return
            await self.app(scope, receive, send_with_header)
        except Exception:
            log.exception("unhandled error", extra={"fields": {"method": scope.get("method"), "path": path}})
            if status_holder[0] == 0:
                await _send_json(send_with_header, 500, {"error": {
                    "code": "internal_error", "message": "internal error", "correlationId": correlation_id}}, [])
        finally:
            if path not in HEALTH_PATHS:
                log_fields(log, logging.INFO, "request", method=scope.get("method"), path=path,
                           status=status_holder[0] or 500,
                           duration_ms=round((time.perf_counter() - started) * 1000, 2))
            correlation_id_var.reset(token)
