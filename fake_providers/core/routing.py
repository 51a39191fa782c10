"""Route declarations for the providers (method, path, handler plus what the gate needs: auth, scope, rate-limit
class) and the JSON response helper."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from .util import dumps

JSON_CT = "application/json; charset=utf-8"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = data if isinstance(data, (bytes, bytearray)) else dumps(data)
    h = {"Content-Type": JSON_CT}
    if headers:
        h.update(headers)
    return web.Response(status=status, body=body, headers=h)


@dataclass
class RouteMeta:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    name: str
    auth: bool = True
    scope: str | None = None
    kind: str = "read"          # read | write | upload | oauth | webhook (rate-limit class)
    limited: bool = True        # counts toward the provider's rate limits

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


class Router:
    def __init__(self) -> None:
        self.routes: list[RouteMeta] = []

    def add(self, method: str, path: str, **kw: Any) -> Callable:
        def deco(fn: Callable) -> Callable:
            self.routes.append(RouteMeta(method, path, fn, kw.pop("name", fn.__name__), **kw))
            return fn
        return deco

    def get(self, path: str, **kw: Any) -> Callable:
        return self.add("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable:
        return self.add("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable:
        return self.add("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable:
        return self.add("DELETE", path, **kw)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string merged with a form / multipart / JSON body (the providers accept parameters either way)."""
    params: dict[str, Any] = dict(request.query)
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.can_read_body:
        ct = request.content_type
        if ct == "application/json":
            try:
                data = await request.json()
                if isinstance(data, dict):
                    params.update(data)
            except Exception:
                pass
        elif ct in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for k in form:
                v = form.getone(k)
                if hasattr(v, "file"):
                    params[k] = {"filename": v.filename, "content": v.file.read(), "content_type": v.content_type}
                else:
                    params[k] = v
        else:
            await request.read()
    return params


def sent(params: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The parameters among ``keys`` the client actually sent (neither missing nor empty), as a write records them."""
    return {k: params[k] for k in keys if params.get(k) not in (None, "")}


# per-request storage keys (typed keys where aiohttp has them)
if hasattr(web, "RequestKey"):
    USER: Any = web.RequestKey("swsim_user", object)
    RL: Any = web.RequestKey("swsim_rl", object)
else:  # pragma: no cover - older aiohttp
    USER, RL = "swsim_user", "swsim_rl"
