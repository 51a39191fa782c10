"""What every provider client shares: item shapes, the error taxonomy, and one HTTP call path.

Every third-party request goes through ``ProviderClient._request``, which first asks the ``gate`` (the worker's
Redis token bucket) for a token and then translates the provider's answer into one of the errors below, so the
worker decides on kinds (throttled / expired / revoked / not found / transient), never on status codes.
Tokens never appear in an error message: URLs are logged without their query string.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol

import httpx

from stack.providers.lean_http import BodyTooLarge, LeanHttpClient, LeanTransportError
from stack.schema import ProviderAppSecret, ProviderTokens

HttpClient = LeanHttpClient | httpx.Client   # the same request()/response subset (lean_http.py)
Gate = Callable[[str], None]   # takes one token for the provider or raises (tokenbucket.NoToken)
_reads_until: contextvars.ContextVar[float | None] = contextvars.ContextVar("provider_reads_until", default=None)


@contextlib.contextmanager
def reads_until(epoch_s: float | None) -> Iterator[None]:
    """Within the block, every GET must be answered by ``epoch_s`` (its timeout shrinks to fit; none is started
    after it: ``TransientProviderError``). The worker sets it to just before its job lock's lease ends, so a slow
    provider cannot push the batch's state write past the lease. Writes keep the client's timeout: a write cut
    short by our timeout may still land at the provider, which a retry could not tell from a write never made."""
    token = _reads_until.set(epoch_s)
    try:
        yield
    finally:
        _reads_until.reset(token)


class ProviderError(Exception):
    """Base of every translated provider failure."""


class ProviderThrottled(ProviderError):
    """The provider said 429 (or its rate-limit headers say the window is spent): delay, never fail."""

    def __init__(self, provider: str, retry_after_s: float) -> None:
        super().__init__(f"{provider} rate limited; retry after {retry_after_s:.0f}s")
        self.provider = provider
        self.retry_after_s = retry_after_s


class TokenExpired(ProviderError):
    """401 for an access token that a refresh can cure (Fitbit ``expired_token``; Strava's bare 401)."""


class TokenRevoked(ProviderError):
    """The grant is gone (invalid_grant / bad refresh token / 403 revoked user): the user must re-authorise."""


class NotFound(ProviderError):
    """404 (or 410): a permanent error for this job."""


class PermanentProviderError(ProviderError):
    """Any other 4xx: our request is wrong; retrying will not help."""


class ResponseTooLarge(PermanentProviderError):
    """The response body is over the HTTP client's cap (``worker.max_response_body_bytes``): the same body would
    come back on a retry, so the item / job fails instead of stalling a poller on parsing it."""


class TransientProviderError(ProviderError):
    """5xx, timeouts, connection resets: retry later."""


class Unsupported(ProviderError):
    """This provider cannot serve the data type in this role (e.g. Garmin as a destination)."""


@dataclass(frozen=True)
class ItemMeta:
    """Lightweight metadata of one item (the metadata-first fetch)."""

    provider: str
    item_id: str
    data_type: str
    start: int                        # epoch seconds UTC
    duration_s: int
    kind: str                         # activity type, normalised upper-case (RUN, RIDE, ...)
    updated_at: int                   # epoch seconds of the last change (start + duration when unknown)
    name: str = ""
    distance_m: float = 0.0
    utc_offset_s: int = 0
    external_id: str | None = None
    calories: int = 0
    locator: str = ""                 # provider-specific hint to fetch the heavy payload (Garmin: upload window)


@dataclass(frozen=True)
class ItemPayload:
    """An item with its heavy payload (GPS/HR samples) hydrated."""

    meta: ItemMeta
    samples: list[dict[str, Any]] = field(default_factory=list)  # {t (epoch s), lat, lng, alt, hr, dist}


class ProviderClient(Protocol):
    name: str

    def refresh(self, app: ProviderAppSecret, tokens: ProviderTokens) -> ProviderTokens: ...
    def list_since(self, token: str, data_type: str, cursor: int, limit: int) -> tuple[list[ItemMeta], int]: ...
    def has_new_data(self, token: str, data_type: str, cursor: int) -> bool: ...
    def hydrate(self, token: str, items: list[ItemMeta]) -> list[ItemPayload]: ...
    def list_window(self, token: str, data_type: str, start: int, end: int) -> list[ItemMeta]: ...
    def write(self, token: str, payload: ItemPayload, external_id: str) -> None: ...


def external_id_for(source_provider: str, source_item_id: str, destination_connection_id: str) -> str:
    """The identity of one source item at one destination: the same on every retry, in every worker."""
    digest = hashlib.sha256(f"{source_provider}:{source_item_id}:{destination_connection_id}".encode()).hexdigest()
    return f"syncwell-{digest[:24]}"


class HttpProvider:
    """Shared HTTP plumbing: one pooled HTTP client per provider (lean or httpx), the gate before every call."""

    name = "provider"

    def __init__(self, base_url: str, http: HttpClient, gate: Gate,
                 on_call: Callable[[str], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.gate = gate
        self.on_call = on_call

    # --- subclasses translate their own error bodies -------------------------------------------------------
    def _classify(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        if status == 429:
            return ProviderThrottled(self.name, self._retry_after(response))
        if status == 401:
            return TokenExpired(f"{self.name} 401")
        if status in (404, 410):
            return NotFound(f"{self.name} {status}")
        if status >= 500:
            return TransientProviderError(f"{self.name} {status}")
        return PermanentProviderError(f"{self.name} {status}: {response.text[:200]}")

    def _read_timeout(self) -> float | None:
        """The timeout of a GET under ``reads_until`` (None: the client's own)."""
        remaining = _remaining(_reads_until.get())
        if remaining is None:
            return None
        client_read = self.http.timeout.read
        return remaining if client_read is None else min(remaining, client_read)

    def _retry_after(self, response: httpx.Response) -> float:
        value = response.headers.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return 60.0
        return 0.0

    def _request(self, method: str, path: str, *, token: str | None = None, params: Mapping[str, Any] | None = None,
                 data: Mapping[str, Any] | None = None, files: Any = None,
                 headers: Mapping[str, str] | None = None) -> httpx.Response:
        timeout = self._read_timeout() if method == "GET" else None
        if timeout is not None and timeout <= 0:
            raise TransientProviderError(f"{self.name} {method} {path}: no lease time left for the call")
        self.gate(self.name)  # raises NoToken: no call at all without a token
        if self.on_call:
            self.on_call(self.name)
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self.http.request(method, self.base_url + path, params=params, data=data, files=files,
                                         headers=all_headers, **extra)
        except (httpx.TransportError, LeanTransportError) as exc:  # timeouts, resets, refused: transient
            kind = exc.kind if isinstance(exc, LeanTransportError) else type(exc).__name__
            raise TransientProviderError(f"{self.name} {method} {path}: {kind}") from exc  # path: no token
        except BodyTooLarge as exc:
            raise ResponseTooLarge(f"{self.name} {method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise self._classify(response)
        return response


def _remaining(limit: float | None) -> float | None:
    return None if limit is None else limit - time.time()


def parse_iso(value: str) -> int:
    """ISO-8601 (Z or offset, optional millis) to epoch seconds."""
    from datetime import datetime

    text = value.strip().replace("Z", "+00:00")
    return int(datetime.fromisoformat(text).timestamp())


def now_s() -> int:
    return int(time.time())
