"""The ONE base error class of the fakes. Handlers raise it with a provider-neutral ``kind``; the provider's
``errors`` module turns it into that provider's wire body, and the server middleware does so in one place."""
from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """An error the fake answers with. ``kind`` is semantic ("invalid_token", "rate_limited", ...), ``status`` the
    HTTP status, ``message``/``detail`` feed the provider's body; ``headers`` are added to the response."""

    def __init__(self, status: int, kind: str, message: str | None = None, *, detail: Any = None,
                 headers: dict[str, str] | None = None, body: Any = None) -> None:
        super().__init__(f"{status} {kind}: {message or ''}")
        self.status = status
        self.kind = kind
        self.message = message
        self.detail = detail
        self.headers = dict(headers or {})
        self.body = body  # a complete body overriding the provider's rendering (fault definitions may set one)


class ControlError(Exception):
    """A bad control-API request (400 with a message saying what is wrong)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
