"""Provider API clients used by the worker and the scheduler (Strava, Fitbit, Garmin).

``make_clients(provider_urls, gate)`` builds one client per provider, each with its own pooled HTTP connection
(shared by every worker thread), all calling ``gate(provider)`` before each request.
"""
from __future__ import annotations

from typing import Callable, Mapping

import httpx

from stack.providers.base import (Gate, HttpProvider, ItemMeta, ItemPayload, NotFound, PermanentProviderError,
                                  ProviderError, ProviderThrottled, TokenExpired, TokenRevoked,
                                  TransientProviderError, Unsupported, external_id_for, reads_until)
from stack.providers.fitbit import FitbitClient
from stack.providers.garmin import GarminClient
from stack.providers.strava import StravaClient

CLIENT_CLASSES: dict[str, type[HttpProvider]] = {"strava": StravaClient, "fitbit": FitbitClient,
                                                 "garmin": GarminClient}

__all__ = ["CLIENT_CLASSES", "Gate", "HttpProvider", "ItemMeta", "ItemPayload", "NotFound", "PermanentProviderError",
           "ProviderError", "ProviderThrottled", "TokenExpired", "TokenRevoked", "TransientProviderError",
           "Unsupported", "external_id_for", "make_clients", "make_http", "reads_until"]


def make_http(pool_size: int = 64, timeout_s: float = 10.0) -> httpx.Client:
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    return httpx.Client(limits=limits, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)))


def make_clients(provider_urls: Mapping[str, str], gate: Gate, *, pool_size: int = 64, timeout_s: float = 10.0,
                 on_call: Callable[[str], None] | None = None) -> dict[str, HttpProvider]:
    return {name: cls(provider_urls[name], make_http(pool_size, timeout_s), gate, on_call)
            for name, cls in CLIENT_CLASSES.items() if name in provider_urls}
