"""Fitbit's wire format: /oauth2/*, /1/user/-/..., /1.2/user/-/... (paths, parameters, documents, pagination)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from ..core.authorize import consenting_user, pkce_code_params, redirect, with_query
from ..core.errors import ProviderError
from ..core.oauth import bearer, parse_basic
from ..core.routing import USER, Router, json_response, read_params, sent
from ..core.server import state_accessor
from ..core.synth import Workout, day_of, day_str, iso_local, parse_day
from . import errors
from .models import COLLECTIONS, FitbitState

router = Router()
CollectionHandler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]
PERIODS = {"1d": 1, "7d": 7, "30d": 30, "1w": 7, "1m": 31, "3m": 92, "6m": 183, "1y": 365}


_st = state_accessor(FitbitState)


def _day(st: FitbitState, user, s: str, field: str = "date") -> int:
    if s == "today":
        return day_of(st.clock.now(), user.profile.tz)
    try:
        return parse_day(s)
    except ValueError:
        raise errors.validation(f"Invalid date:{s}", field) from None


def _range(st, user, a: str, b: str, cap: int, what: str) -> tuple[int, int]:
    d0 = _day(st, user, a, "base-date")
    if b in PERIODS:
        n = PERIODS[b]
        if n > cap:
            raise errors.validation(f"Invalid period: {b}", "period")
        return d0 - n + 1, d0
    d1 = _day(st, user, b, "end-date")
    if d1 < d0:
        raise errors.validation("Invalid date range: end date is before start date", "end-date")
    if d1 - d0 + 1 > cap:
        raise errors.validation(f"The maximum allowed date range for {what} is {cap} days", "end-date")
    return d0, d1


# -- OAuth ---------------------------------------------------------------------------------------------------------
@router.get("/oauth2/authorize", auth=False, limited=False, kind="oauth")
async def authorize(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    q = request.query
    redirect_uri = q.get("redirect_uri")
    if not q.get("client_id") or not redirect_uri:
        raise errors.validation("Missing parameters: client_id and redirect_uri are required", "client_id")
    asked = [s for s in q.get("scope", "activity").replace("+", " ").split() if s]
    granted = [s for s in q.get("granted_scope", " ".join(asked)).split() if s]
    user = consenting_user(st, q.get("user_id"), granted, q.get("client_id"))
    return redirect(with_query(redirect_uri, pkce_code_params(st, q, user, granted)) + "#_=_")


async def _client_call(request: web.Request) -> tuple[FitbitState, dict, str]:
    """An OAuth endpoint's state, parameters and client id, the client authenticated (Basic, or client_id and
    client_secret among the parameters)."""
    st = _st(request)
    p = await read_params(request)
    cid, secret = parse_basic(request.headers.get("Authorization"))
    cid = cid or p.get("client_id")
    if not cid:
        raise ProviderError(401, "invalid_client", "Authorization header required.")
    st.check_client(str(cid), secret if secret is not None else p.get("client_secret"))
    return st, p, str(cid)


@router.post("/oauth2/token", auth=False, limited=False, kind="oauth")
async def token(request: web.Request) -> web.StreamResponse:
    st, p, cid = await _client_call(request)
    grant = p.get("grant_type")
    now = st.clock.now()
    if grant == "authorization_code":
        pair = st.tokens.exchange_code(p.get("code"), cid, now, p.get("code_verifier"), p.get("redirect_uri"))
    elif grant == "refresh_token":
        try:
            pair = st.tokens.use_refresh(p.get("refresh_token"), cid, now)
        except ProviderError as e:
            e.detail = {"token": p.get("refresh_token", "")}
            e.kind = "invalid_grant"
            raise
    else:
        raise ProviderError(400, "bad_request", "Missing or invalid grant_type parameter value.",
                            detail={"field": "grant_type"})
    return json_response({"access_token": pair.access.token, "expires_in": pair.expires_in,
                          "refresh_token": pair.refresh.token, "scope": " ".join(pair.access.scopes),
                          "token_type": "Bearer", "user_id": pair.access.user_id})


@router.post("/oauth2/revoke", auth=False, limited=False, kind="oauth")
async def revoke(request: web.Request) -> web.StreamResponse:
    st, p, _ = await _client_call(request)
    uid = st.tokens.revoke_token(p.get("token") or "")
    if uid is not None:
        st.revoke_user(uid, reason="revoke")
    return json_response({})


# -- profile, activities ---------------------------------------------------------------------------------------
@router.get("/1/user/-/profile.json", scope="profile")
async def profile(request: web.Request) -> web.StreamResponse:
    return json_response(_st(request).profile_json(request[USER]))


def _paged(request: web.Request, key: str, items_desc_or_asc, local_time, url_path: str) -> web.Response:
    """Fitbit list pagination: beforeDate+desc or afterDate+asc, limit <= 100, pagination.next/previous links."""
    st = _st(request)
    q = request.query
    before, after, sort = q.get("beforeDate"), q.get("afterDate"), q.get("sort")
    if bool(before) == bool(after):
        raise errors.validation("Either beforeDate or afterDate should be specified", "beforeDate")
    if before and sort != "desc":
        raise errors.validation("The sort parameter must be 'desc' when beforeDate is specified", "sort")
    if after and sort != "asc":
        raise errors.validation("The sort parameter must be 'asc' when afterDate is specified", "sort")
    try:
        limit = int(q.get("limit", ""))
    except ValueError:
        raise errors.validation("limit is required and must be a number", "limit") from None
    if not 0 < limit <= 100:
        raise errors.validation("Invalid limit: must be between 1 and 100", "limit")
    try:
        offset = int(q.get("offset", "0"))
    except ValueError:
        raise errors.validation("Invalid offset", "offset") from None
    if offset < 0:
        raise errors.validation("Invalid offset", "offset")
    bound = before or after
    if len(bound) == 10:
        bound += "T00:00:00"
    try:
        datetime.fromisoformat(bound)
    except ValueError:
        raise errors.validation(f"Invalid date:{before or after}", "beforeDate" if before else "afterDate") from None
    items = items_desc_or_asc
    if before:
        sel = [x for x in items if local_time(x) < bound][::-1]
    else:
        sel = [x for x in items if local_time(x) > bound]
    page = sel[offset:offset + limit]
    base = f"{st.base_url}{url_path}"
    common = {("beforeDate" if before else "afterDate"): before or after, "sort": sort, "limit": limit}
    nxt = f"{base}?{urlencode({**common, 'offset': offset + limit})}" if offset + limit < len(sel) else ""
    prev = f"{base}?{urlencode({**common, 'offset': max(0, offset - limit)})}" if offset > 0 else ""
    pag = {("beforeDate" if before else "afterDate"): before or after, "limit": limit, "next": nxt,
           "offset": offset, "previous": prev, "sort": sort}
    return page, pag


@router.get("/1/user/-/activities/list.json", scope="activity")
async def activity_list(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    ws = st.workouts(request[USER])
    page, pag = _paged(request, "activities", ws, st.local_start,
                       "/1/user/-/activities/list.json")
    return json_response({"activities": [st.activity_json(w, st.base_url) for w in page], "pagination": pag})


def _logged_activity(request: web.Request) -> tuple[FitbitState, Workout]:
    """The state and the user's activity the path's ``logId`` names (404 when the user has none by that id)."""
    st = _st(request)
    w = st.workout(request[USER], int(request.match_info["logId"]))
    if w is None:
        raise errors.not_found("Activity log not found")
    return st, w


@router.get(r"/1/user/-/activities/{logId:\d+}.tcx", scope="activity")
async def activity_tcx(request: web.Request) -> web.StreamResponse:
    st, w = _logged_activity(request)
    return web.Response(body=st.tcx_bytes(w), headers={"Content-Type": "application/vnd.garmin.tcx+xml;charset=UTF-8"})


@router.get(r"/1/user/-/activities/{logId:\d+}.json", scope="activity")
async def activity_get(request: web.Request) -> web.StreamResponse:
    st, w = _logged_activity(request)
    return json_response({"activityLog": st.activity_json(w, st.base_url)})


@router.post("/1/user/-/activities.json", scope="activity", kind="write")
async def activity_log(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    p = await read_params(request)
    w = st.log_activity(user, p)
    payload = sent(p, ("activityId", "activityName", "manualCalories", "startTime", "durationMillis", "date",
                       "distance", "distanceUnit"))
    st.record_write(user, "POST /1/user/-/activities.json", payload, p.get("externalId"), log_id=w.id)
    st.notify_collection(user, "activities", str(p["date"]))
    sport = w.spec
    return json_response({"activityLog": {
        "activityId": sport.fitbit_type_id, "activityParentId": sport.fitbit_type_id,
        "activityParentName": w.extra.get("activityName", sport.fitbit), "calories": w.calories, "description": "",
        "distance": round(w.distance / 1000, 5), "duration": w.elapsed * 1000, "hasActiveZoneMinutes": False,
        "hasStartTime": True, "isFavorite": False, "lastModified": iso_local(w.last_modified, 0) + ".000Z",
        "logId": w.id, "name": w.extra.get("activityName", sport.fitbit), "startDate": str(p["date"]),
        "startTime": str(p["startTime"])[:5], "steps": 0}}, status=201)


@router.delete(r"/1/user/-/activities/{logId:\d+}.json", scope="activity", kind="write")
async def activity_delete(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    lid = int(request.match_info["logId"])
    for i, w in enumerate(user.written):
        if w.id == lid:
            user.written.pop(i)
            st.record_write(user, "DELETE /1/user/-/activities/{logId}.json", {"logId": lid})
            return web.Response(status=204)
    raise errors.not_found("Activity log not found")


@router.get("/1/user/-/activities/steps/date/{base}/{end}.json", scope="activity")
async def steps(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    d0, d1 = _range(st, user, request.match_info["base"], request.match_info["end"], 1095, "steps")
    now = st.clock.now()
    out = []
    for d in range(d0, d1 + 1):
        v = st.synth.steps(user.profile, d, now)
        out.append({"dateTime": day_str(d), "value": str(v or 0)})
    return json_response({"activities-steps": out})


# -- sleep -------------------------------------------------------------------------------------------------------
@router.get("/1.2/user/-/sleep/date/{date}.json", scope="sleep")
async def sleep_day(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    d = _day(st, user, request.match_info["date"])
    entries = [st.sleep_json(user, s) for s in st.sleeps(user, d, d)]
    stages = {"deep": 0, "light": 0, "rem": 0, "wake": 0}
    for e in entries:
        for lv in stages:
            stages[lv] += e["levels"]["summary"].get(lv, {}).get("minutes", 0)
    return json_response({"sleep": entries, "summary": {
        "stages": stages, "totalMinutesAsleep": sum(e["minutesAsleep"] for e in entries),
        "totalSleepRecords": len(entries), "totalTimeInBed": sum(e["timeInBed"] for e in entries)}})


@router.get("/1.2/user/-/sleep/date/{start}/{end}.json", scope="sleep")
async def sleep_range(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    d0 = _day(st, user, request.match_info["start"], "start-date")
    d1 = _day(st, user, request.match_info["end"], "end-date")
    if d1 < d0:
        raise errors.validation("Invalid date range: end date is before start date", "end-date")
    if d1 - d0 + 1 > 100:
        raise errors.validation("The maximum allowed date range for sleep is 100 days", "end-date")
    entries = [st.sleep_json(user, s) for s in st.sleeps(user, d0, d1)]
    return json_response({"sleep": entries[::-1]})


@router.get("/1.2/user/-/sleep/list.json", scope="sleep")
async def sleep_list(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    p = user.profile
    now = st.clock.now()
    d1 = day_of(now, p.tz)
    d0 = day_of(p.history_start, p.tz)
    items = st.sleeps(user, d0, d1)
    page, pag = _paged(request, "sleep", items, lambda s: iso_local(s["start"], s["offset"]),
                       "/1.2/user/-/sleep/list.json")
    return json_response({"sleep": [st.sleep_json(user, s) for s in page], "pagination": pag})


# -- weight ------------------------------------------------------------------------------------------------------
def _weight_response(request, d0: int, d1: int) -> web.Response:
    st = _st(request)
    pounds = request.headers.get("Accept-Language", "") == "en_US"
    return json_response({"weight": st.weights(request[USER], d0, d1, pounds)})


@router.get("/1/user/-/body/log/weight/date/{date}.json", scope="weight")
async def weight_day(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    d = _day(st, request[USER], request.match_info["date"])
    return _weight_response(request, d, d)


@router.get("/1/user/-/body/log/weight/date/{base}/{end}.json", scope="weight")
async def weight_range(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    end = request.match_info["end"]
    if end in PERIODS and PERIODS[end] > 31:
        raise errors.validation(f"Invalid period: {end}", "period")
    d0, d1 = _range(st, request[USER], request.match_info["base"], end, 31, "weight")
    return _weight_response(request, d0, d1)


@router.post("/1/user/-/body/log/weight.json", scope="weight", kind="write")
async def weight_log(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    p = await read_params(request)
    entry = st.log_weight(user, p)
    payload = sent(p, ("weight", "date", "time"))
    st.record_write(user, "POST /1/user/-/body/log/weight.json", payload, p.get("externalId"),
                    log_id=entry["logId"])
    st.notify_collection(user, "body", entry["date"])
    return json_response({"weightLog": {k: v for k, v in entry.items() if k != "day"}}, status=201)


# -- subscriptions ---------------------------------------------------------------------------------------------
def _sub_doc(user, collection: str, sid: str, subscriber: str) -> dict:
    doc = {"collectionType": collection, "ownerId": user.user_id, "ownerType": "user", "subscriberId": subscriber,
           "subscriptionId": sid}
    if collection == "all":
        doc.pop("collectionType")
    return doc


async def _subscribe(request: web.Request, collection: str) -> web.StreamResponse:
    user = request[USER]
    if collection not in COLLECTIONS and collection != "all":
        raise errors.not_found("The API you are requesting could not be found.")
    sid = request.match_info["sid"]
    subscriber = request.headers.get("X-Fitbit-Subscriber-Id", "1")
    for coll, sub in user.subscriptions.items():
        if sub["subscriptionId"] == sid and coll != collection:
            raise ProviderError(409, "conflict", "Subscription id is already used by another collection")
    existing = user.subscriptions.get(collection)
    if existing is not None:
        if existing["subscriptionId"] == sid:
            return json_response(_sub_doc(user, collection, sid, existing["subscriberId"]), status=200)
        raise ProviderError(409, "conflict", "A subscription for this collection already exists with another id")
    user.subscriptions[collection] = {"subscriptionId": sid, "subscriberId": subscriber}
    return json_response(_sub_doc(user, collection, sid, subscriber), status=201)


def _per_collection_and_all(method: str, path: str, name: str, handler: CollectionHandler, **kw: Any) -> None:
    """Route ``/1/user/-/{collection}/<path>`` (as ``<name>_collection``) and ``/1/user/-/<path>`` (as
    ``<name>_all``, the collection "all") to ``handler(request, collection)``."""
    async def one(request: web.Request) -> web.StreamResponse:
        return await handler(request, request.match_info["collection"])

    async def every(request: web.Request) -> web.StreamResponse:
        return await handler(request, "all")

    router.add(method, f"/1/user/-/{{collection}}/{path}", name=f"{name}_collection", **kw)(one)
    router.add(method, f"/1/user/-/{path}", name=f"{name}_all", **kw)(every)


_per_collection_and_all("POST", "apiSubscriptions/{sid}.json", "subscribe", _subscribe, kind="webhook")


@router.get("/1/user/-/{collection}/apiSubscriptions.json", name="list_subscriptions_collection")
async def list_subscriptions(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    coll = request.match_info["collection"]
    subs = [_sub_doc(user, c, s["subscriptionId"], s["subscriberId"]) for c, s in user.subscriptions.items()
            if c == coll]
    return json_response({"apiSubscriptions": subs})


@router.get("/1/user/-/apiSubscriptions.json", name="list_subscriptions_all")
async def list_subscriptions_all(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    subs = [_sub_doc(user, c, s["subscriptionId"], s["subscriberId"]) for c, s in user.subscriptions.items()]
    return json_response({"apiSubscriptions": subs})


async def _unsubscribe(request: web.Request, collection: str) -> web.StreamResponse:
    user = request[USER]
    sub = user.subscriptions.get(collection)
    if sub is None or sub["subscriptionId"] != request.match_info["sid"]:
        raise errors.not_found("Subscription not found")
    del user.subscriptions[collection]
    return web.Response(status=204)


_per_collection_and_all("DELETE", "apiSubscriptions/{sid}.json", "unsubscribe", _unsubscribe, kind="webhook")


__all__ = ["router", "bearer"]
