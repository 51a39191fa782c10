"""Garmin's wire format: /oauth2Confirm, /di-oauth2-service/oauth/token and /wellness-api/rest/..."""
from __future__ import annotations

from aiohttp import web

from ..core.authorize import consenting_user, pkce_code_params, redirect, with_query
from ..core.errors import ProviderError
from ..core.routing import USER, Router, json_response, read_params
from ..core.server import state_accessor
from . import errors
from .models import MODELED, SUMMARY_TYPES, GarminState

router = Router()


_st = state_accessor(GarminState)


def _oauth_error(kind: str, message: str) -> ProviderError:
    return ProviderError(400 if kind != "invalid_client" else 401, kind, message, detail={"oauth": True})


@router.get("/oauth2Confirm", auth=False, limited=False, kind="oauth")
async def authorize(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    q = request.query
    redirect_uri = q.get("redirect_uri")
    if not q.get("client_id") or not redirect_uri:
        raise _oauth_error("invalid_request", "client_id and redirect_uri are required")
    if not q.get("code_challenge"):
        raise _oauth_error("invalid_request", "PKCE code_challenge is required")
    user = consenting_user(st, q.get("user_id"), None, q.get("client_id"))
    return redirect(with_query(redirect_uri, pkce_code_params(st, q, user, user.scopes)))


@router.post("/di-oauth2-service/oauth/token", auth=False, limited=False, kind="oauth")
async def token(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    p = await read_params(request)
    cid = p.get("client_id")
    if not cid:
        raise _oauth_error("invalid_client", "client_id is required")
    st.check_client(str(cid), p.get("client_secret"))
    grant = p.get("grant_type")
    now = st.clock.now()
    if grant == "authorization_code":
        pair = st.tokens.exchange_code(p.get("code"), str(cid), now, p.get("code_verifier"), p.get("redirect_uri"))
    elif grant == "refresh_token":
        pair = st.tokens.use_refresh(p.get("refresh_token"), str(cid), now)
    else:
        raise _oauth_error("unsupported_grant_type", f"Unsupported grant type: {grant}")
    r_exp = pair.refresh.expires_at
    return json_response({"access_token": pair.access.token, "expires_in": pair.expires_in,
                          "token_type": "bearer", "refresh_token": pair.refresh.token,
                          "scope": " ".join(pair.access.scopes), "jti": pair.access.token[:36],
                          "refresh_token_expires_in": int(r_exp - now) if r_exp else None})


@router.get("/wellness-api/rest/user/id")
async def user_id(request: web.Request) -> web.StreamResponse:
    return json_response({"userId": request[USER].user_id})


@router.get("/wellness-api/rest/user/permissions")
async def user_permissions(request: web.Request) -> web.StreamResponse:
    return json_response(request[USER].scopes)


@router.delete("/wellness-api/rest/user/registration", kind="write")
async def deregister(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    st.revoke_user(request[USER].user_id, reason="deregistration")
    return web.Response(status=204)


def _seconds(q, key: str) -> int:
    v = q.get(key)
    if v in (None, ""):
        raise errors.bad(f"Missing required parameter {key}")
    try:
        n = int(v)
    except ValueError:
        raise errors.bad(f"Invalid value for {key}: {v}") from None
    if n > 100_000_000_000:
        raise errors.bad(f"{key} must be in seconds, not milliseconds: {v}")
    return n


@router.get("/wellness-api/rest/backfill/{summary_type}", kind="read")
async def backfill(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    stype = request.match_info["summary_type"]
    if stype not in SUMMARY_TYPES:
        raise errors.bad(f"Unknown summary type {stype}")
    q = request.query
    start = _seconds(q, "summaryStartTimeInSeconds")
    end = _seconds(q, "summaryEndTimeInSeconds")
    if end <= start:
        raise errors.bad("summaryEndTimeInSeconds must be after summaryStartTimeInSeconds")
    if end - start > 90 * 86400:
        raise errors.bad("Backfill range exceeds 90 days")
    key = (user.user_id, stype, start, end)
    if key in st.backfills:
        raise ProviderError(409, "conflict", "Duplicate backfill request")
    st.backfills.add(key)
    if st.webhook_url():
        for s in range(start, end, 86400):
            st.notify_summaries(user, stype, s, min(end, s + 86400), by="summary")
    return web.Response(status=202)


@router.get("/wellness-api/rest/{summary_type}")
async def summaries(request: web.Request) -> web.StreamResponse:
    st = _st(request)
    user = request[USER]
    stype = request.match_info["summary_type"]
    if stype not in SUMMARY_TYPES:
        raise ProviderError(404, "not_found", f"Unknown summary type {stype}")
    if stype in user.disabled:
        raise ProviderError(412, "precondition_failed", f"User has disabled the {stype} summary type")
    q = request.query
    start = _seconds(q, "uploadStartTimeInSeconds")
    end = _seconds(q, "uploadEndTimeInSeconds")
    if end <= start:
        raise errors.bad("uploadEndTimeInSeconds must be after uploadStartTimeInSeconds")
    if end - start > 86400:
        raise errors.bad("The time range between uploadStartTimeInSeconds and uploadEndTimeInSeconds "
                         "exceeds 86400 seconds")
    tok = q.get("token")
    by = "upload"
    if tok is not None or st.config["garmin_require_pull_token"]:
        rec = st.pull_tokens.get(tok or "")
        if rec is None or rec["user_id"] != user.user_id:
            raise errors.bad("InvalidPullTokenException failure")
        if rec["kind"] == "backfill":
            by = "summary"
    if stype not in MODELED:
        return json_response([])
    items = st.summaries(user, stype, start, end, by)
    if stype == "activityDetails":
        return json_response(b"[" + b",".join(items) + b"]")
    return json_response(items)
