"""Fitbit's error bodies: {"errors": [{"errorType": ..., "message": ...}], "success": false}."""
from __future__ import annotations

from typing import Any

from ..core.errors import ProviderError

DOCS = "Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API authorization process."


def render(err: ProviderError) -> tuple[int, Any, dict[str, str]]:
    k, status = err.kind, err.status
    d = err.detail if isinstance(err.detail, dict) else {}
    tok = d.get("token", "")
    field = d.get("field")
    if k == "invalid_token":
        status, etype, msg = 401, "invalid_token", f"Access token invalid: {tok}. {DOCS}"
    elif k == "expired_token":
        status, etype, msg = 401, "expired_token", f"Access token expired: {tok}. {DOCS}"
    elif k == "invalid_grant":
        status, etype = 400, "invalid_grant"
        what = err.detail if isinstance(err.detail, str) else "refresh_token"
        msg = (f"Refresh token invalid: {d.get('token', '')}. {DOCS}" if what == "refresh_token"
               else f"Authorization code invalid: {err.message}. {DOCS}")
    elif k == "invalid_client":
        status, etype, msg = 401, "invalid_client", err.message or "Invalid authorization header format."
    elif k == "missing_scope":
        status, etype = 403, "insufficient_scope"
        msg = (f"This application does not have permission to access {d.get('scope', 'activity')} data. "
               f"Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API "
               f"authorization process.")
    elif k == "rate_limited":
        status, etype, msg = 429, "system", "Too Many Requests"
    elif k == "not_found":
        status, etype, msg = 404, "not_found", err.message or "The API you are requesting could not be found."
    elif k == "forbidden":
        status, etype, msg = 403, "insufficient_permissions", err.message or "Forbidden"
    elif k == "length_required":
        status, etype, msg = 411, "request", err.message or "Length Required"
    elif k in ("bad_request", "validation"):
        status, etype, msg = 400, "validation", err.message or "Invalid request"
    elif k == "conflict":
        status, etype, msg = 409, "request", err.message or "Conflict"
    elif k == "method_not_allowed":
        status, etype, msg = 405, "request", "Method Not Allowed"
    else:
        etype, msg = "system", err.message or {500: "Internal Server Error", 502: "Bad Gateway",
                                               503: "Service Unavailable"}.get(status, "Error")
    e: dict[str, Any] = {"errorType": etype, "message": msg}
    if field:
        e["fieldName"] = field
    return status, {"errors": [e], "success": False}, {}


def validation(message: str, field: str | None = None) -> ProviderError:
    return ProviderError(400, "validation", message, detail={"field": field} if field else None)


def not_found(message: str | None = None) -> ProviderError:
    return ProviderError(404, "not_found", message)
