"""Server bootstrap: the aiohttp application of one fake (provider routes + control API), the middleware that
runs faults, the provider's gate and counters around every provider call, and turns ProviderError into the wire
response in exactly one place; plus start/stop helpers used by the process entry point and by tests."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, TypeVar, cast

from aiohttp import web

from . import control
from .errors import ProviderError
from .faults.base import RequestContext
from .faults.reset import ConnectionAborted
from .oauth import bearer
from .state import ProviderState
from .routing import USER

STATE: web.AppKey = web.AppKey("state", ProviderState)
META: web.AppKey = web.AppKey("meta", dict)
log = logging.getLogger("fake_providers")
S = TypeVar("S", bound=ProviderState)

_KIND_BY_STATUS = {400: "bad_request", 401: "invalid_token", 403: "forbidden", 404: "not_found",
                   405: "method_not_allowed", 409: "conflict", 411: "length_required", 413: "bad_request"}


def state_accessor(model: type[S]) -> Callable[[web.Request], S]:
    """How a provider's handlers reach the app's state, typed as the provider's own model."""
    def state(request: web.Request) -> S:
        return cast(S, request.app[STATE])
    return state


def build_app(state: ProviderState) -> web.Application:
    meta_by_route: dict[Any, Any] = {}

    @web.middleware
    async def provider_middleware(request: web.Request, handler):
        route = request.match_info.route
        meta = meta_by_route.get(route)
        path = request.path
        if meta is None and path.startswith("/_fake/"):
            return await handler(request)
        st = state
        token = bearer(request.headers.get("Authorization"))
        user_id = st.peek_user(token)
        if meta is not None:
            key, template = meta.key, meta.path
        else:
            key, template = f"{request.method} (unmatched)", path
        err: ProviderError | None = None
        user = None
        resp: web.StreamResponse | None = None
        faults = ()
        try:
            if st.faults.request_faults:
                ctx = RequestContext(st, request, key, template, request.method, path, user_id)
                faults = st.faults.for_request(ctx)
                for f in faults:
                    st.counters.faults_fired[f.name] += 1
                    r = await f.before(ctx)
                    if r is not None:
                        resp = r
                        break
            if resp is None:
                if meta is None:
                    exc = request.match_info.http_exception
                    status = exc.status if exc is not None else 404
                    raise ProviderError(status, _KIND_BY_STATUS.get(status, "not_found"),
                                        exc.reason if exc is not None else "Not Found")
                user = st.gate(request, meta, token)
                request[USER] = user
                resp = await handler(request)
            for f in faults:
                resp = await f.after(ctx, resp)
        except ProviderError as e:
            err = e
            resp = st.error_response(e)
        except ConnectionAborted:
            st.counters.record(key, user_id, 0, 0)
            raise asyncio.CancelledError()
        except web.HTTPException as e:  # aiohttp's own (e.g. body too large)
            err = ProviderError(e.status, _KIND_BY_STATUS.get(e.status, "bad_request"), e.reason)
            resp = st.error_response(err)
        st.decorate(request, meta, resp, user, err)
        body = getattr(resp, "body", None)
        st.counters.record(key, user_id, resp.status, len(body) if isinstance(body, (bytes, bytearray)) else 0)
        return resp

    app = web.Application(middlewares=[provider_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    for meta in state.routes():
        r = app.router.add_route(meta.method, meta.path, meta.handler, name=meta.name)
        meta_by_route[r] = meta
    app[META] = meta_by_route
    control.add_routes(app, state)

    async def on_startup(app: web.Application) -> None:
        await state.emitter.start()

    async def on_cleanup(app: web.Application) -> None:
        await state.emitter.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def make_state(provider: str, overrides: dict[str, Any] | None = None) -> ProviderState:
    if provider == "strava":
        from ..strava.models import StravaState as cls
    elif provider == "fitbit":
        from ..fitbit.models import FitbitState as cls
    elif provider == "garmin":
        from ..garmin.models import GarminState as cls
    else:
        raise ValueError(f"unknown provider {provider!r}; expected strava, fitbit or garmin")
    return cls({k: v for k, v in (overrides or {}).items() if v is not None})


class FakeServer:
    """One fake on a loopback port (port 0: the OS picks), started and stopped inside a running event loop."""

    def __init__(self, provider: str, host: str = "127.0.0.1", port: int = 0, **overrides: Any) -> None:
        self.state = make_state(provider, overrides)
        self.host = host
        self.port = port
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = build_app(self.state)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, backlog=2048, reuse_address=True)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self.state.base_url = self.url
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def ready_info(self) -> dict[str, Any]:
        return {"service": self.state.service, "url": self.url, "provider": self.state.provider,
                "port": self.port, "pid": __import__("os").getpid()}
