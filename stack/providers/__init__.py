"""Provider API clients used by the worker and the scheduler (Strava, Fitbit, Garmin).

``make_clients(provider_urls, gate)`` builds one client per provider, each with its own pooled HTTP connection
(shared by every worker thread), all calling ``gate(provider)`` before each request. The HTTP client is the lean
one (lean_http.py, on the AWS wire transport) unless ``SWSIM_PROVIDER_CLIENT=httpx``.
"""
from __future__ import annotations

from typing import Callable, Mapping

from stack.providers.base import (Gate, HttpClient, HttpProvider, ItemMeta, ItemPayload, NotFound,
                                  PermanentProviderError, ProviderError, ProviderThrottled, ResponseTooLarge,
                                  TokenExpired, TokenRevoked, TransientProviderError, Unsupported, external_id_for,
                                  reads_until)
from stack.providers.fitbit import FitbitClient
from stack.providers.garmin import GarminClient
from stack.providers.lean_http import DEFAULT_MAX_BODY_BYTES, LeanHttpClient, make_httpx, use_lean
from stack.providers.strava import StravaClient

CLIENT_CLASSES: dict[str, type[HttpProvider]] = {"strava": StravaClient, "fitbit": FitbitClient,
                                                 "garmin": GarminClient}

__all__ = ["CLIENT_CLASSES", "Gate", "HttpClient", "HttpProvider", "ItemMeta", "ItemPayload", "NotFound",
           "PermanentProviderError", "ProviderError", "ProviderThrottled", "ResponseTooLarge", "TokenExpired", "TokenRevoked",
           "TransientProviderError", "Unsupported", "external_id_for", "make_clients", "make_http", "reads_until"]


def make_http(pool_size: int = 64, timeout_s: float = 10.0, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> HttpClient:
    """The lean client, or httpx when ``SWSIM_PROVIDER_CLIENT=httpx`` (or a proxy is configured): same timeouts,
    same response body cap."""
    if use_lean():
        return LeanHttpClient(pool_size, timeout_s, max_body_bytes)
    return make_httpx(pool_size, timeout_s, max_body_bytes)  # type: ignore[no-any-return]


def make_clients(provider_urls: Mapping[str, str], gate: Gate, *, pool_size: int = 64, timeout_s: float = 10.0,
                 on_call: Callable[[str], None] | None = None,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> dict[str, HttpProvider]:
    return {name: cls(provider_urls[name], make_http(pool_size, timeout_s, max_body_bytes), gate, on_call)
            for name, cls in CLIENT_CLASSES.items() if name in provider_urls}
