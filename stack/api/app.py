"""The SyncWell API application: routes, edge middleware, error translation and process-wide resources."""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

import orjson
import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stack.api import routes_v1, webhooks
from stack.api.authorizer import Authorizer
from stack.api.aws import AwsClients
from stack.api.cache import ReadCache
from stack.api.context import ApiContext, QueueUrls
from stack.api.deep_health import DeepHealth
from stack.api.edge import EdgeMiddleware
from stack.api.errors import ApiError, DependencyUnavailable
from stack.api.jobs import EnqueueOutcomes
from stack.api.logs import correlation_id_var, log_fields
from stack.api.ratelimit import RateLimiter
from stack.api.store import Store
from stack.config import StackConfig

log = logging.getLogger("syncwell.api")
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "correlationId": correlation_id_var.get()}}


async def api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return OrjsonResponse(error_body(exc.status, exc.code, exc.message), status_code=exc.status, headers=exc.headers)


async def dependency_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DependencyUnavailable)
    log_fields(log, logging.WARNING, "dependency unavailable", dependency=exc.service, error=exc.detail)
    return OrjsonResponse(error_body(503, "service_unavailable", f"{exc.service} is unavailable; retry shortly"),
                          status_code=503, headers={"Retry-After": "1"})


async def http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return OrjsonResponse(error_body(exc.status_code, code, str(exc.detail)), status_code=exc.status_code,
                          headers=exc.headers)


def load_openapi() -> dict[str, Any]:
    # libyaml's safe loader when available: the pure-Python one takes ~0.1 s of CPU at every API start.
    return yaml.load(OPENAPI_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def create_app(config: StackConfig, *, endpoints: Mapping[str, str] | None = None) -> Starlette:
    """The ASGI app. ``endpoints`` overrides AWS endpoint URLs per service (else the AWS_ENDPOINT_URL_* env)."""
    api_tuning = config.tuning.get("api", {})
    openapi_doc = load_openapi()
    openapi_json = orjson.dumps(openapi_doc)
    openapi_yaml = OPENAPI_PATH.read_bytes()
    holder: dict[str, ApiContext] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        aws = AwsClients.create(config, endpoints)
        authorizer = Authorizer(config.issuers, leeway_s=float(api_tuning.get("jwt_leeway_s", 30)),
                                refresh_interval_s=float(api_tuning.get("jwks_refresh_interval_s", 30)))
        limiter = RateLimiter(config.redis_url, user_rate_per_s=float(config.tune("api", "user_rate_per_s")),
                              user_burst=int(config.tune("api", "user_burst")),
                              ip_limit=int(config.tune("api", "ip_limit")),
                              ip_window_s=int(config.tune("api", "ip_window_s")),
                              timeout_s=float(api_tuning.get("redis_timeout_s", 0.5)))
        cache = ReadCache(config.redis_url, ttl_s=float(api_tuning.get("config_cache_ttl_s", 900)),
                          job_ttl_s=float(api_tuning.get("job_cache_ttl_s", 900)),
                          timeout_s=float(api_tuning.get("redis_timeout_s", 0.5)))
        store = Store(aws, config.table_name, str(api_tuning.get("idempotency_write", "conditional_put")))
        ctx = ApiContext(config=config, aws=aws, store=store, authorizer=authorizer, limiter=limiter,
                         queues=QueueUrls(aws), outcomes=EnqueueOutcomes(), cache=cache)
        app.state.ctx = ctx
        app.state.deep_health = DeepHealth(aws, config.table_name, ctx.queues, config.hot_queue,
                                           ttl_s=float(api_tuning.get("deep_health_ttl_s", 1.0)),
                                           timeout_s=float(api_tuning.get("deep_health_timeout_s", 1.0)))
        holder["ctx"] = ctx
        await authorizer.start()
        for queue in (config.hot_queue, config.coalescing_queue):
            try:
                await ctx.queues.url(queue)
            except DependencyUnavailable as exc:
                log_fields(log, logging.WARNING, "queue not resolvable at startup; will retry on use",
                           queue=queue, error=exc.detail)
        try:
            yield
        finally:
            for task in list(ctx.background):
                task.cancel()
            await authorizer.close()
            await limiter.close()
            await cache.close()
            aws.close()

    async def health(request: Request) -> Response:
        ctx: ApiContext = request.app.state.ctx
        return OrjsonResponse({"status": "ok", "service": "api",
                               "rateLimiting": "on" if ctx.limiter.healthy else "fail-open"})

    async def deep_health(request: Request) -> Response:
        # What a region's failover check should call (docs/region-failover.md): 503 when DynamoDB or SQS fails.
        checker: DeepHealth = request.app.state.deep_health
        verdict = await checker.verdict()
        if verdict.ok:
            return OrjsonResponse(verdict.body(time.monotonic()))
        return OrjsonResponse(verdict.body(time.monotonic()), status_code=503, headers={"Retry-After": "1"})

    async def openapi_as_json(_: Request) -> Response:
        return Response(openapi_json, media_type="application/json")

    async def openapi_as_yaml(_: Request) -> Response:
        return Response(openapi_yaml, media_type="application/yaml")

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/health/deep", deep_health, methods=["GET"]),
        Route("/openapi.json", openapi_as_json, methods=["GET"]),
        Route("/openapi.yaml", openapi_as_yaml, methods=["GET"]),
        *routes_v1.ROUTES,
        *webhooks.ROUTES,
    ]
    limiter_of = lambda: holder["ctx"].limiter if "ctx" in holder else None  # noqa: E731
    return Starlette(
        routes=routes, lifespan=lifespan,
        middleware=[Middleware(EdgeMiddleware, limiter_of=limiter_of,
                               ip_header=str(api_tuning.get("client_ip_header", "x-forwarded-for")),
                               exempt_loopback=bool(api_tuning.get("exempt_loopback", True)))],
        exception_handlers={ApiError: api_error, DependencyUnavailable: dependency_error, HTTPException: http_error},
    )
