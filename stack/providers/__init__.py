"""Provider API clients used by the worker and the scheduler (Strava, Fitbit, Garmin).

``make_clients(provider_urls, gate)`` builds one client per provider, each with its own pooled HTTP connection
(shared by every worker thread), all calling ``gate(provider)`` before each request. The HTTP client is the lean
one (lean_http.py, on the AWS wire transport) unless ``SWSIM_PROVIDER_CLIENT=httpx``.
"""
from __future__ import annotations

from typing import Callable, Mapping

from stack.providers.base import (Gate, HttpClient, HttpProvider, ItemMeta, ItemPayload, NotFound,
                                  PermanentProviderError, ProviderError, ProviderThrottled, TokenExpired, TokenRevoked,
                                  TransientProviderError, Unsupported, external_id_for, reads_until)
from stack.providers.fitbit import FitbitClient
from stack.providers.garmin import GarminClient
from stack.providers.lean_http import LeanHttpClient, make_httpx, use_lean
from stack.providers.strava import StravaClient

CLIENT_CLASSES: dict[str, type[HttpProvider]] = {"strava": StravaClient, "fitbit": FitbitClient,
                                                 "garmin": GarminClient}

__all__ = ["CLIENT_CLASSES", "Gate", "HttpClient", "HttpProvider", "ItemMeta", "ItemPayload", "NotFound",
           "PermanentProviderError", "ProviderError", "ProviderThrottled", "TokenExpired", "TokenRevoked",
           "TransientProviderError", "Unsupported", "external_id_for", "make_clients", "make_http", "reads_until"]


def make_http(pool_size: int = 64, timeout_s: float = 10.0) -> HttpClient:
    """The lean client, or httpx when ``SWSIM_PROVIDER_CLIENT=httpx`` (or a proxy is configured): same timeouts."""
    if use_lean():
        return LeanHttpClient(pool_size, timeout_s)
    return make_httpx(pool_size, timeout_s)  # type: ignore[no-any-return]


def make_clients(provider_urls: Mapping[str, str], gate: Gate, *, pool_size: int = 64, timeout_s: float = 10.0,
                 on_call: Callable[[str], None] | None = None) -> dict[str, HttpProvider]:
    return {name: cls(provider_urls[name], make_http(pool_size, timeout_s), gate, on_call)
            for name, cls in CLIENT_CLASSES.items() if name in provider_urls}
