"""The control API under /_fake/ (JSON): reset, seed, clock, users and their tokens, counters, writes, faults,
config, webhook emission, health. Never faulted, never counted, never rate limited."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .errors import ControlError, ProviderError
from .faults import FaultDefinitionError, FaultEngine
from .routing import json_response
from .state import ProviderState, parse_json_body


def add_routes(app: web.Application, st: ProviderState) -> None:
    def handler(fn):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                body = parse_json_body(await request.read()) if request.can_read_body else {}
                result = fn(request, body)
                if asyncio.iscoroutine(result):
                    result = await result
                if isinstance(result, web.StreamResponse):
                    return result
                return json_response(result)
            except FaultDefinitionError as exc:
                return json_response({"error": "invalid fault definition", "message": str(exc)}, status=400)
            except ControlError as exc:
                return json_response({"error": exc.message, "message": exc.message}, status=exc.status)
            except ProviderError as exc:
                return json_response({"error": exc.kind, "message": exc.message}, status=400)
        return wrapped

    r = app.router

    def need(body: Any, key: str, typ: type | tuple, optional: bool = False) -> Any:
        if not isinstance(body, dict):
            raise ControlError("body must be a JSON object")
        if key not in body or body[key] is None:
            if optional:
                return None
            raise ControlError(f"{key!r} is required")
        v = body[key]
        if isinstance(v, bool) and bool not in (typ if isinstance(typ, tuple) else (typ,)):
            raise ControlError(f"{key!r} has the wrong type")
        if not isinstance(v, typ):
            raise ControlError(f"{key!r} must be {getattr(typ, '__name__', typ)}, got {v!r}")
        return v

    def health(request, body):
        return {"status": "ok", "service": st.service, "provider": st.provider, "url": st.base_url,
                "now": st.clock.now(), "users": len(st.users)}

    def reset(request, body):
        st.reset()
        return {"reset": True, "now": st.clock.now()}

    def seed(request, body):
        n = need(body, "seed", int)
        st.set_seed(n)
        return {"seed": n}

    def clock_get(request, body):
        return st.clock.snapshot()

    def clock_put(request, body):
        now = need(body, "now", (int, float))
        frozen = need(body, "frozen", bool, optional=True)
        st.clock.set(float(now), frozen)
        return st.clock.snapshot()

    def clock_advance(request, body):
        s = need(body, "seconds", (int, float))
        st.clock.advance(float(s))
        return st.clock.snapshot()

    def clock_freeze(request, body):
        frozen = need(body, "frozen", bool, optional=True)
        st.clock.freeze(True if frozen is None else frozen)
        return st.clock.snapshot()

    def users_create(request, body):
        uid = need(body, "user_id", (str, int), optional=True)
        scopes = need(body, "scopes", list, optional=True)
        hd = need(body, "history_days", int, optional=True)
        cid = need(body, "client_id", str, optional=True)
        user, pair = st.create_user(str(uid) if uid is not None else None, scopes, hd, cid)
        return json_response(st.token_json(user, pair), status=201)

    def users_bulk(request, body):
        count = need(body, "count", int)
        if not 0 < count <= 200_000:
            raise ControlError("'count' must be between 1 and 200000")
        prefix = need(body, "prefix", str, optional=True)
        start = need(body, "start", int, optional=True) or 1
        scopes = need(body, "scopes", list, optional=True)
        hd = need(body, "history_days", int, optional=True)
        out = []
        for i in range(start, start + count):
            uid = f"{prefix}{i}" if prefix is not None else None
            user, pair = st.create_user(uid, scopes, hd)
            out.append(st.token_json(user, pair))
        return json_response(out, status=201)

    def users_list(request, body):
        return {"users": list(st.users)}

    def user_get(request, body):
        return st.user_json(st.get_user(request.match_info["uid"]))

    def user_patch(request, body):
        user = st.get_user(request.match_info["uid"])
        if "scopes" in body:
            user.scopes = list(need(body, "scopes", list))
        if "disabled_summaries" in body:
            user.disabled = set(need(body, "disabled_summaries", list))
        return st.user_json(user)

    def user_revoke(request, body):
        uid = request.match_info["uid"]
        st.get_user(uid)
        notify = body.get("notify", True) if isinstance(body, dict) else True
        n = st.revoke_user(uid, reason="control", notify=bool(notify))
        return {"user_id": uid, "revoked_tokens": n}

    def user_tokens(request, body):
        user = st.get_user(request.match_info["uid"])
        scopes = need(body, "scopes", list, optional=True)
        user, pair = st.create_user(user.user_id, scopes if scopes is not None else user.scopes)
        return json_response(st.token_json(user, pair), status=201)

    def user_code(request, body):
        """An authorization code for the user, as if they had approved the app (for the code exchange)."""
        uid = need(body, "user_id", (str, int), optional=True) or request.match_info.get("uid")
        scopes = need(body, "scopes", list, optional=True)
        if uid is None or str(uid) not in st.users:
            user, _ = st.create_user(str(uid) if uid is not None else None, scopes, with_tokens=False)
        else:
            user = st.users[str(uid)]
        code = st.tokens.new_code(user.user_id, scopes if scopes is not None else user.scopes, st.clock.now(),
                                  client_id=need(body, "client_id", str, optional=True),
                                  redirect_uri=need(body, "redirect_uri", str, optional=True),
                                  code_challenge=need(body, "code_challenge", str, optional=True),
                                  challenge_method=need(body, "code_challenge_method", str, optional=True) or "S256")
        return json_response({"code": code.code, "user_id": user.user_id, "scopes": code.scopes,
                              "expires_at": code.expires_at}, status=201)

    def counters(request, body):
        return st.counters.snapshot()

    def counters_reset(request, body):
        st.counters.reset()
        return {"reset": True}

    def writes(request, body):
        uid = request.query.get("user_id")
        ws = st.counters.writes
        return {"writes": [w for w in ws if uid is None or w["user_id"] == uid]}

    async def faults_add(request, body):
        fault = st.faults.add(body)
        try:
            await fault.on_install(st)
        except FaultDefinitionError:
            st.faults.remove(fault.name)
            raise
        return json_response(fault.describe(), status=201)

    def faults_list(request, body):
        return {"faults": st.faults.describe(), "types": FaultEngine.types()}

    def faults_delete(request, body):
        name = request.match_info["name"]
        if not st.faults.remove(name):
            raise ControlError(f"no fault named {name!r}", status=404)
        return {"deleted": name}

    def faults_clear(request, body):
        n = len(st.faults.faults)
        st.faults.clear()
        return {"deleted": n}

    def config_get(request, body):
        return {**st.config.values, "signing_secret": st.signing_secret()}

    def config_put(request, body):
        return st.update_config(body)

    async def webhooks_emit(request, body):
        uid = need(body, "user_id", (str, int))
        user = st.get_user(str(uid))
        futs = st.emit(user, body)
        wait = body.get("wait", True)
        if not wait or not futs:
            return json_response({"queued": len(futs), "deliveries": []}, status=202)
        timeout = float(body.get("timeout", 15))
        done, _ = await asyncio.wait(futs, timeout=timeout)
        return {"queued": len(futs), "deliveries": [f.result() for f in futs if f in done]}

    def webhooks_log(request, body):
        return {"deliveries": list(st.counters.webhooks)}

    async def webhooks_verify(request, body):
        return await st.verify_subscriber(body)

    def state_info(request, body):
        return {"provider": st.provider, "service": st.service, "url": st.base_url, "seed": st.config["seed"],
                "users": len(st.users), "heavy_cache": {"hits": st.heavy.hits, "misses": st.heavy.misses},
                "clock": st.clock.snapshot()}

    routes = [
        ("GET", "/_fake/health", health), ("POST", "/_fake/reset", reset), ("POST", "/_fake/seed", seed),
        ("GET", "/_fake/clock", clock_get), ("PUT", "/_fake/clock", clock_put),
        ("POST", "/_fake/clock/advance", clock_advance), ("POST", "/_fake/clock/freeze", clock_freeze),
        ("POST", "/_fake/users", users_create), ("GET", "/_fake/users", users_list),
        ("POST", "/_fake/users/bulk", users_bulk), ("GET", "/_fake/users/{uid}", user_get),
        ("PATCH", "/_fake/users/{uid}", user_patch), ("POST", "/_fake/users/{uid}/revoke", user_revoke),
        ("POST", "/_fake/users/{uid}/tokens", user_tokens), ("POST", "/_fake/users/{uid}/code", user_code),
        ("POST", "/_fake/codes", user_code),
        ("GET", "/_fake/counters", counters), ("POST", "/_fake/counters/reset", counters_reset),
        ("GET", "/_fake/writes", writes),
        ("POST", "/_fake/faults", faults_add), ("GET", "/_fake/faults", faults_list),
        ("DELETE", "/_fake/faults/{name}", faults_delete), ("DELETE", "/_fake/faults", faults_clear),
        ("GET", "/_fake/config", config_get), ("PUT", "/_fake/config", config_put),
        ("POST", "/_fake/webhooks/emit", webhooks_emit), ("GET", "/_fake/webhooks", webhooks_log),
        ("POST", "/_fake/webhooks/verify", webhooks_verify), ("GET", "/_fake/state", state_info),
    ]
    for method, path, fn in routes:
        r.add_route(method, path, handler(fn))
