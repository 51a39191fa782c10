"""Strava's wire format: /oauth/* and /api/v3/* (paths, parameters, documents, status codes)."""
from __future__ import annotations

import secrets

import aiohttp
from aiohttp import web

from ..core.authorize import consenting_user, redirect, with_query
from ..core.errors import ProviderError
from ..core.routing import USER, Router, json_response, read_params, sent
from ..core.server import state_accessor
from ..core.util import loads
from . import errors
from .models import STREAM_KEYS, StravaState, athlete_id

router = Router()
READ = "activity:read|activity:read_all"


_st = state_accessor(StravaState)


def _int(params, key: str, default: int | None, resource: str = "Activity") -> int | None:
    v = params.get(key)
    if v in (None, ""):
        return default
    try:
        return int(float(v))
    except ValueError:
        raise errors.bad_request(resource, key, "invalid") from None


# -- OAuth ---------------------------------------------------------------------------------------------------------
@router.get("/oauth/authorize", auth=False, limited=False, kind="oauth")
async def authorize(request: web.Request) -> web.StreamResponse:
    """Auto-approving consent page: redirects to redirect_uri with a code. Fake extensions: athlete_id (which
    athlete approves), granted_scope (grant fewer scopes than asked)."""
    st = _st(request)
    q = request.query
    redirect_uri = q.get("redirect_uri")
    if not redirect_uri or not q.get("client_id"):
        raise errors.bad_request("Application", "redirect_uri" if not redirect_uri else "client_id", "invalid")
    if q.get("response_type", "code") != "code":
        raise errors.bad_request("Application", "response_type", "invalid")
    asked = [s for s in q.get("scope", "read").replace(" ", ",").split(",") if s]
    granted = [s for s in q.get("granted_scope", ",".join(asked)).split(",") if s]
    user = consenting_user(st, q.get("athlete_id"), granted, q.get("client_id"))
    code = st.tokens.new_code(user.user_id, granted, st.clock.now(), client_id=q.get("client_id"))
    params = {"state": q.get("state", ""), "code": code.code, "scope": ",".join(granted)}
    return redirect(with_query(redirect_uri, params))


@router.post("/oauth/token", auth=False, limited=False, kind="oauth")
async def token(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    p = await read_params(request)
    client_id, secret = p.get("client_id"), p.get("client_secret")
    if not client_id:
        raise ProviderError(400, "bad_request", "invalid", detail={"resource": "Application", "field": "client_id",
                                                                   "code": "invalid"})
    st.check_client(str(client_id), secret)
    grant = p.get("grant_type", "authorization_code")
    now = st.clock.now()
    if grant == "authorization_code":
        pair = st.tokens.exchange_code(p.get("code"), str(client_id), now)
        body = _token_body(pair)
        body["athlete"] = st.athlete_json(st.users[pair.access.user_id], detailed=False)
        return json_response(body)
    if grant == "refresh_token":
        pair = st.tokens.use_refresh(p.get("refresh_token"), str(client_id), now)
        return json_response(_token_body(pair))
    raise ProviderError(400, "bad_request", "invalid", detail={"resource": "Application", "field": "grant_type",
                                                               "code": "invalid"})


def _token_body(pair) -> dict:
    return {"token_type": "Bearer", "expires_at": int(pair.access.expires_at), "expires_in": pair.expires_in,
            "refresh_token": pair.refresh.token, "access_token": pair.access.token}


@router.post("/oauth/deauthorize", auth=False, limited=False, kind="oauth")
async def deauthorize(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    p = await read_params(request)
    from ..core.oauth import bearer
    tok = p.get("access_token") or bearer(request.headers.get("Authorization"))
    user, _ = st.check_token(tok)
    st.revoke_user(user.user_id, reason="deauthorize")
    return json_response({"access_token": tok})


# -- athlete -------------------------------------------------------------------------------------------------------
@router.get("/api/v3/athlete", scope="read|read_all|profile:read_all")
async def get_athlete(request: web.Request) -> web.StreamResponse:
    return json_response(_st(request).athlete_json(request[USER]))


@router.put("/api/v3/athlete", scope="profile:write", kind="write")
async def put_athlete(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    p = await read_params(request)
    if "weight" not in p:
        raise errors.bad_request("Athlete", "weight", "missing")
    try:
        weight = float(p["weight"])
    except ValueError:
        raise errors.bad_request("Athlete", "weight", "invalid") from None
    user.extra["weight"] = weight
    st.record_write(user, "PUT /api/v3/athlete", {"weight": weight})
    return json_response(st.athlete_json(user))


# -- activities ----------------------------------------------------------------------------------------------------
@router.get("/api/v3/athlete/activities", scope=READ)
async def list_activities(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    q = request.query
    before = _int(q, "before", None)
    after = _int(q, "after", None)
    page = _int(q, "page", 1)
    per_page = _int(q, "per_page", 30)
    if page < 1:
        page = 1
    per_page = max(1, min(per_page, int(st.config["per_page_max"])))
    ws = st.workouts(request[USER])
    if before is not None:
        ws = [w for w in ws if w.start < before]
    if after is not None:
        ws = [w for w in ws if w.start > after]
    if not (after is not None and before is None):
        ws = ws[::-1]       # newest first, unless only `after` is given (then oldest first)
    chunk = ws[(page - 1) * per_page: page * per_page]
    return json_response([st.summary_json(w) for w in chunk])


def _workout(request: web.Request):
    st = _st(request)
    try:
        wid = int(request.match_info["id"])
    except ValueError:
        raise errors.not_found("Activity") from None
    w = st.workout(request[USER], wid)
    if w is None:
        raise errors.not_found("Activity")
    return st, w


@router.get("/api/v3/activities/{id}", scope=READ)
async def get_activity(request: web.Request) -> web.StreamResponse:
    st, w = _workout(request)
    return json_response(st.detail_bytes(w))


@router.get("/api/v3/activities/{id}/streams", scope=READ)
async def get_streams(request: web.Request) -> web.StreamResponse:
    st, w = _workout(request)
    q = request.query
    keys = [k for k in q.get("keys", ",".join(STREAM_KEYS)).split(",") if k]
    kbt = q.get("key_by_type", "false").lower() == "true"
    return json_response(st.streams_bytes(w, keys, kbt, q.get("resolution"), q.get("series_type", "distance")))


@router.post("/api/v3/activities", scope="activity:write", kind="write")
async def create_activity(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    p = await read_params(request)
    w = st.create_activity(user, p)
    payload = sent(p, ("name", "sport_type", "type", "start_date_local", "elapsed_time", "description", "distance",
                       "trainer", "commute"))
    st.record_write(user, "POST /api/v3/activities", payload, p.get("external_id"), activity_id=w.id)
    st.notify_written(user, w)
    return json_response(st.detail_bytes(w), status=201)


@router.post("/api/v3/uploads", scope="activity:write", kind="upload")
async def create_upload(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    p = await read_params(request)
    rec = st.create_upload(user, p)
    f = p.get("file") or {}
    payload = {"file": f.get("content", b""), "data_type": p.get("data_type"), "name": p.get("name"),
               "description": p.get("description"), "trainer": p.get("trainer"), "commute": p.get("commute")}
    st.record_write(user, "POST /api/v3/uploads", payload, p.get("external_id"), upload_id=rec["id"])
    return json_response(st.upload_json(rec), status=201)


@router.get("/api/v3/uploads/{id}", scope="activity:write")
async def get_upload(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    try:
        rec = st.uploads.get(int(request.match_info["id"]))
    except ValueError:
        rec = None
    if rec is None or rec["user_id"] != request[USER].user_id:
        raise errors.not_found("Upload")
    return json_response(st.upload_json(rec))


# -- push subscriptions (authenticated by client id/secret, not a bearer token) -----------------------------------
@router.post("/api/v3/push_subscriptions", auth=False, limited=False, kind="webhook")
async def create_subscription(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    p = await read_params(request)
    for k in ("client_id", "client_secret", "callback_url", "verify_token"):
        if not p.get(k):
            raise errors.bad_request("PushSubscription", k, "missing")
    st.check_client(str(p["client_id"]), p["client_secret"])
    if st.subscription is not None:
        raise errors.bad_request("PushSubscription", "", "already exists")
    challenge = secrets.token_hex(8)
    url = p["callback_url"]
    check = with_query(url, {"hub.mode": "subscribe", "hub.challenge": challenge,
                             "hub.verify_token": p["verify_token"]})
    ok = False
    try:
        assert st.emitter.session is not None
        async with st.emitter.session.get(check, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            raw = await resp.read()
            ok = resp.status == 200 and loads(raw).get("hub.challenge") == challenge
    except Exception:
        ok = False
    if not ok:
        raise errors.bad_request("PushSubscription", "callback url", "GET to callback URL does not return 200")
    now = st.clock.now()
    st.subscription = {"id": 100000 + st.stable("sub") % 900000, "callback_url": url,
                       "verify_token": p["verify_token"], "client_id": str(p["client_id"]), "created_at": now}
    return json_response({"id": st.subscription["id"]}, status=201)


@router.get("/api/v3/push_subscriptions", auth=False, limited=False, kind="webhook")
async def list_subscriptions(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    q = request.query
    st.check_client(q.get("client_id"), q.get("client_secret"))
    s = st.subscription
    if not s:
        return json_response([])
    from ..core.synth import iso_utc
    return json_response([{"id": s["id"], "resource_state": 2, "application_id": athlete_id(s["client_id"]),
                           "callback_url": s["callback_url"], "created_at": iso_utc(s["created_at"]),
                           "updated_at": iso_utc(s["created_at"])}])


@router.delete("/api/v3/push_subscriptions/{id}", auth=False, limited=False, kind="webhook")
async def delete_subscription(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    p = await read_params(request)
    st.check_client(p.get("client_id"), p.get("client_secret"))
    if not st.subscription or str(st.subscription["id"]) != request.match_info["id"]:
        raise errors.not_found("PushSubscription")
    st.subscription = None
    return web.Response(status=204)
