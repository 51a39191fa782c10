"""The providers' lean HTTP client: the subset of ``httpx.Client`` the provider clients use, on the AWS wire
client's keep-alive transport (stack/awswire/transport.py).

Why: with the AWS calls botocore-free, ~46 % of the worker's CPU was the ~5 provider calls per first sync going
through httpx/httpcore (URL model, header model, event hooks, h11 state machine). A provider call needs one
request shape: method, path and query, a few headers, maybe a form body; so it is written in one ``sendall`` and
read by the transport's buffered reader, as the AWS calls are.

What matches httpx: params and form bodies are encoded the same way (``urlencode``, True -> "true", None -> ""),
``timeout=`` bounds the connect and every read of one call, a pooled connection the server closed while idle is
not reused, ``response.url`` is the full URL, header look-ups are case-insensitive, gzip/deflate bodies are
decoded. Every failure to get a response (refused, reset, timeout, TLS) is one ``LeanTransportError``, which
``HttpProvider._request`` maps to ``TransientProviderError`` exactly as it maps ``httpx.TransportError``.
A POST is never sent twice (httpx does not resend either); a GET on a pooled connection the server closed just as
it was reused is resent once on a new connection (the transport's rule for idempotent calls).

Response bodies are capped (``max_body_bytes``, the worker's ``worker.max_response_body_bytes``, default 32 MiB):
a larger body, declared or decoded (gzip), raises ``BodyTooLarge`` without reading the rest, and
``HttpProvider._request`` turns it into ``ResponseTooLarge``, a ``PermanentProviderError``. Why: a fake's sizing bug
served 50-88 MB TCX bodies and every poller spent minutes parsing them while its leases ran out; such a body will
not shrink on a retry. The httpx client (fallback and multipart) has the same cap (``CappedHttpxClient``).

What stays on httpx: requests with ``files`` (the Strava upload's multipart body: one call per written item, and
multipart encoding is not worth re-implementing), and every request when ``SWSIM_PROVIDER_CLIENT=httpx`` or a
proxy is configured in the environment (httpx honours HTTP(S)_PROXY; the transport connects directly).
"""
from __future__ import annotations

import json
import os
import threading
import zlib
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote, urlencode, urlsplit

import httpx
from botocore.exceptions import BotoCoreError

from stack.awswire.transport import BodyTooLarge, Transport

CLIENT_SWITCH = "SWSIM_PROVIDER_CLIENT"     # "httpx": every provider call through httpx (the A/B and the fallback)
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_DEFAULT_HEADERS = {"accept": "*/*", "user-agent": "syncwell-sim-worker"}
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024   # the largest real TCX we expect is a few MB


class LeanTransportError(Exception):
    """No response: refused, unresolvable, reset, timed out, TLS failure. ``kind`` names the cause."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Timeouts:
    """The client's own timeouts (``HttpProvider`` reads ``.read`` to shrink a GET's under ``reads_until``)."""

    connect: float
    read: float


class Headers:
    """Response headers with case-insensitive ``get`` / ``[]`` / ``in`` (repeated headers joined by ", ")."""

    def __init__(self, lowered: Mapping[str, str]) -> None:
        self._lowered = lowered

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._lowered.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._lowered[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lowered

    def items(self) -> list[tuple[str, str]]:
        return list(self._lowered.items())

    def __repr__(self) -> str:
        return f"Headers({self._lowered!r})"


class LeanResponse:
    """``status_code``, ``headers``, ``content``, ``text``, ``json()``, ``url``: what the providers read."""

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes, url: str) -> None:
        self.status_code = status_code
        self.headers = Headers(headers)
        self.content = content
        self.url = url

    @property
    def encoding(self) -> str:
        """The charset of Content-Type, else UTF-8 (httpx's default)."""
        for part in (self.headers.get("content-type") or "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"'")
        return "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:   # an unknown charset name
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<LeanResponse [{self.status_code}]>"


class LeanHttpClient:
    """Keep-alive pools (one per origin, ``pool`` idle connections each) shared by every worker thread."""

    def __init__(self, pool: int = 64, timeout_s: float = 10.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.timeout = Timeouts(connect=min(timeout_s, 3.0), read=timeout_s)
        self.max_body_bytes = max_body_bytes
        self._pool = pool
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()
        self._httpx: Any = None      # built on the first multipart request

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None, files: Any = None, headers: Mapping[str, str] | None = None,
                timeout: float | None = None) -> Any:
        if files is not None:
            return self._multipart(method, url, params=params, data=data, files=files, headers=headers,
                                   timeout=timeout)
        if method == "HEAD":
            raise ValueError("the lean provider client has no HEAD (the transport would wait for a body)")
        origin, target = _split(url)
        if params:
            target += ("&" if "?" in target else "?") + _encode(params)
        transport = self._transport(origin)
        all_headers = {"host": transport.host_header, **_DEFAULT_HEADERS}
        body = b""
        if data is not None:
            body = _encode(data).encode()
            all_headers["content-type"] = "application/x-www-form-urlencoded"
        for name, value in (headers or {}).items():
            all_headers[name.lower()] = value
        try:
            wire = transport.request(method, target, all_headers, body, timeout=timeout,
                                     resend_on_stale=method in ("GET", "OPTIONS"))
        except BotoCoreError as exc:  # the transport's errors are botocore's; the message has no query string
            raise LeanTransportError(type(exc).__name__, str(exc)) from exc
        content = _decoded(wire.headers, wire.body, self.max_body_bytes)
        return LeanResponse(wire.status, wire.headers, content, origin + target)

    def close(self) -> None:
        with self._lock:
            transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport.close()
        if self._httpx is not None:
            self._httpx.close()

    def _transport(self, origin: str) -> Transport:
        transport = self._transports.get(origin)
        if transport is None:
            with self._lock:
                transport = self._transports.get(origin)
                if transport is None:
                    transport = Transport(origin, self._pool, self.timeout.connect, self.timeout.read,
                                          ca_bundle=os.environ.get("SSL_CERT_FILE") or None,
                                          max_body_bytes=self.max_body_bytes)
                    self._transports[origin] = transport
        return transport

    def _multipart(self, method: str, url: str, **kwargs: Any) -> Any:
        """Multipart (``files``) through httpx: its errors are ``httpx.TransportError``, which ``_request`` maps."""
        with self._lock:
            if self._httpx is None:
                self._httpx = make_httpx(self._pool, self.timeout.read, self.max_body_bytes)
        if kwargs.get("timeout") is None:
            kwargs.pop("timeout")
        return self._httpx.request(method, url, **kwargs)


class CappedHttpxClient(httpx.Client):
    """``httpx.Client`` whose ``request`` refuses a body over ``max_body_bytes`` (declared, or decoded as it
    streams) with ``BodyTooLarge``, like the lean client, instead of reading all of it into memory."""

    def __init__(self, *, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        limit = self.max_body_bytes
        with self.stream(method, url, **kwargs) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit, int(declared))
            parts: list[bytes] = []
            total = 0
            for part in response.iter_bytes():
                total += len(part)
                if total > limit:
                    raise BodyTooLarge(limit, None)
                parts.append(part)
        # Rebuilt with the decoded body: the encoding and length headers described the wire form.
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=b"".join(parts),
                              request=response.request, extensions=response.extensions)


def make_httpx(pool_size: int, timeout_s: float, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    return CappedHttpxClient(max_body_bytes=max_body_bytes, limits=limits,
                             timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)))


def use_lean() -> bool:
    """The lean client unless switched off or a proxy is configured (only httpx would honour it)."""
    if os.environ.get(CLIENT_SWITCH, "").strip().lower() == "httpx":
        return False
    return not any(os.environ.get(name) for name in _PROXY_VARS)


def _split(url: str) -> tuple[str, str]:
    """``scheme://host[:port]`` and the request target (path, query) of an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    target = parts.path or "/"
    if not target.isascii() or " " in target:   # httpx percent-encodes these; the request line must be ASCII
        target = quote(target, safe=_PATH_SAFE)
    if parts.query:
        target += "?" + parts.query
    return f"{parts.scheme}://{parts.netloc}", target


def _primitive(value: Any) -> str:
    """httpx's rendering of a param / form value."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _encode(fields: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in fields.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs.extend((str(key), _primitive(v)) for v in values)
    return urlencode(pairs)


def _decoded(headers: Mapping[str, str], body: bytes, limit: int) -> bytes:
    encoding = headers.get("content-encoding", "").strip().lower()
    if not body or encoding in ("", "identity"):
        return body
    # A corrupt body raises zlib.error: like httpx.DecodingError, not a transport error (not retried as transient).
    if encoding == "gzip":
        return _inflate(body, zlib.MAX_WBITS | 16, limit)
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except zlib.error:          # raw deflate without the zlib header, as some servers send
            return _inflate(body, -zlib.MAX_WBITS, limit)
    return body   # an encoding we never asked for: as sent


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    """Decompressed, but never more than ``limit`` bytes of it (a small gzip body can inflate to gigabytes)."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    out += inflater.flush()
    if len(out) > limit:
        raise BodyTooLarge(limit, None)
    if not inflater.eof:   # what zlib.decompress says of a cut-off stream
        raise zlib.error("incomplete or truncated stream")
    return out


__all__ = ["BodyTooLarge", "CLIENT_SWITCH", "CappedHttpxClient", "DEFAULT_MAX_BODY_BYTES", "Headers", "LeanHttpClient", "LeanResponse", "LeanTransportError", "Timeouts",
           "make_httpx", "use_lean"]
