"""Garmin's error bodies: {"errorMessage": "..."} on the wellness API; the OAuth 2.0 token endpoint answers with
the standard {"error", "error_description"} (unconfirmed upstream; RFC 6749 shape)."""
from __future__ import annotations

from typing import Any

from ..core.errors import ProviderError

OAUTH_KINDS = {"invalid_grant": 400, "invalid_client": 401, "invalid_request": 400, "unsupported_grant_type": 400}


def render(err: ProviderError) -> tuple[int, Any, dict[str, str]]:
    k, status = err.kind, err.status
    d = err.detail if isinstance(err.detail, dict) else {}
    if d.get("oauth") or (k in OAUTH_KINDS and d.get("oauth", True) and k != "bad_request"):
        return OAUTH_KINDS.get(k, status), {"error": k, "error_description": err.message or k}, {}
    if k in ("invalid_token", "expired_token"):
        return 401, {"errorMessage": err.message or "Authentication failed"}, {}
    if k == "revoked":
        return 403, {"errorMessage": err.message or "Unknown UserAccessToken"}, {}
    if k == "rate_limited":
        return 429, {"errorMessage": err.message or "Rate limit exceeded"}, {}
    if k == "not_found":
        return 404, {"errorMessage": err.message or "Not Found"}, {}
    defaults = {400: "Bad Request", 403: "Forbidden", 409: "Duplicate request", 410: "Gone",
                412: "Summary type disabled by the user", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable"}
    return status, {"errorMessage": err.message or defaults.get(status, "Error")}, {}


def bad(message: str) -> ProviderError:
    return ProviderError(400, "bad_request", message)
