"""Strava's error bodies: {"message": ..., "errors": [{"resource", "field", "code"}]}."""
from __future__ import annotations

from typing import Any

from ..core.errors import ProviderError

MESSAGES = {400: "Bad Request", 401: "Authorization Error", 403: "Forbidden", 404: "Record Not Found",
            405: "Method Not Allowed", 409: "Conflict", 411: "Length Required", 429: "Rate Limit Exceeded",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def render(err: ProviderError) -> tuple[int, Any, dict[str, str]]:
    k = err.kind
    d = err.detail if isinstance(err.detail, dict) else {}
    status = err.status
    if k in ("invalid_token", "expired_token"):
        status, msg, e = 401, "Authorization Error", {"resource": "Athlete", "field": "access_token", "code": "invalid"}
    elif k == "missing_scope":
        status, msg = 401, "Authorization Error"
        e = {"resource": "AccessToken", "field": d.get("field", "activity:read_permission"), "code": "missing"}
    elif k == "invalid_grant":
        field = err.detail if isinstance(err.detail, str) else "refresh_token"
        resource = {"code": "AuthorizationCode", "code_verifier": "AuthorizationCode",
                    "redirect_uri": "AuthorizationCode"}.get(field, "RefreshToken")
        status, msg, e = 400, "Bad Request", {"resource": resource, "field": field, "code": "invalid"}
    elif k == "invalid_client":
        field = err.detail if isinstance(err.detail, str) else "client_id"
        status, msg, e = 401, "Authorization Error", {"resource": "Application", "field": field, "code": "invalid"}
    elif k == "rate_limited":
        status, msg = 429, "Rate Limit Exceeded"
        e = {"resource": "Application", "field": "rate limit", "code": "exceeded"}
    elif k == "not_found":
        status, msg = 404, "Record Not Found"
        e = {"resource": d.get("resource", "Resource"), "field": d.get("field", "path"), "code": "invalid"}
    else:
        msg = MESSAGES.get(status, "Error")
        e = {"resource": d.get("resource", "Application"), "field": d.get("field", ""),
             "code": d.get("code", err.message or k)}
    return status, {"message": msg, "errors": [e]}, {}


def bad_request(resource: str, field: str, code: str = "invalid") -> ProviderError:
    return ProviderError(400, "bad_request", code, detail={"resource": resource, "field": field, "code": code})


def not_found(resource: str, field: str = "id") -> ProviderError:
    return ProviderError(404, "not_found", "Record Not Found", detail={"resource": resource, "field": field})


def missing_scope(field: str) -> ProviderError:
    return ProviderError(401, "missing_scope", "missing", detail={"field": field})
