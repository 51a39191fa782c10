"""The wire client's HTTP/1.1 transport: a pool of keep-alive sockets to one endpoint (the AWS client POSTs; the
providers' lean client, stack/providers/lean_http.py, sends any body-bearing method through ``request``).

Why not urllib3 / http.client: for a ~1 KB JSON exchange they spend most of the client's CPU on generality
(http.client parses response headers with the email package; urllib3 wraps every step). The worker needs one
request shape, so the request is written in one ``sendall`` and the response read with a buffered reader: status
line, headers, then a ``Content-Length`` or chunked body. Measured against moto (client CPU per GetItem): urllib3
0.57 ms, this ~0.3 ms.

Errors are botocore's, chosen like botocore's URLLib3Session chooses them: refused / unresolvable ->
``EndpointConnectionError``, connect timeout -> ``ConnectTimeoutError``, read timeout -> ``ReadTimeoutError``,
a connection dropped mid-exchange -> ``ConnectionClosedError``, TLS failures -> ``SSLError``. A pooled connection
the server closed while idle is detected before reuse (readable with no request outstanding), as urllib3 does;
one closed just as it is reused (the request failed before any byte of a response) is replaced once at once.
"""
from __future__ import annotations

import select
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from botocore.exceptions import (ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError,
                                 ReadTimeoutError, SSLError)

MAX_HEADER_LINES = 200


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: dict[str, str]      # lower-cased names
    body: bytes


class BodyTooLarge(Exception):
    """A response body over the transport's ``max_body_bytes`` (the providers' cap; the AWS clients set none).

    Not an OSError/ValueError: it is the server's answer, not a broken connection, so it is never retried or
    resent. The connection is closed (the rest of the body is not read)."""

    def __init__(self, limit: int, size: int | None) -> None:
        declared = f" of {size} bytes" if size is not None else ""
        super().__init__(f"response body{declared} exceeds the {limit}-byte limit")
        self.limit = limit
        self.size = size


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the response came back (its cause: the socket error)."""


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb", buffering=65536)

    def dropped(self) -> bool:
        """True when the server closed (or wrote to) this idle connection: not safe to reuse."""
        try:
            poller = select.poll()   # not select.select: no 1024-descriptor limit
            poller.register(self.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class Transport:
    """Keep-alive connections to one endpoint, at most ``pool`` kept idle (more are opened when more threads call
    at once, like urllib3's non-blocking pool)."""

    def __init__(self, endpoint_url: str, pool: int, connect_timeout: float, read_timeout: float,
                 ca_bundle: str | None = None, max_body_bytes: int | None = None) -> None:
        self.endpoint_url = endpoint_url
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.path = parts.path or "/"
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = 443 if parts.scheme == "https" else 80
        self.host_header = self._host + (f":{parts.port}" if parts.port and parts.port != default_port else "")
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            from botocore.httpsession import get_cert_path
            self._tls = ssl.create_default_context(cafile=ca_bundle or get_cert_path(True))
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_body = max_body_bytes   # None: no limit (the AWS clients)
        self._max_idle = max(1, pool)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._request_line = f"POST {self.path} HTTP/1.1\r\n".encode()

    def post(self, headers: dict[str, str], body: bytes) -> WireResponse:
        return self._send(self._request_line, headers, body, with_length=True)

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes = b"", *,
                timeout: float | None = None, resend_on_stale: bool = True) -> WireResponse:
        """``method target`` (path and query) on this endpoint. ``timeout`` bounds this call's connect and every
        read (None: the transport's); ``resend_on_stale=False`` for a request that must never be sent twice.
        No HEAD: the response reader would wait for a body."""
        with_length = bool(body) or method not in ("GET", "DELETE", "OPTIONS")
        return self._send(f"{method} {target} HTTP/1.1\r\n".encode(), headers, body, with_length=with_length,
                          timeout=timeout, resend_on_stale=resend_on_stale)

    def _send(self, request_line: bytes, headers: dict[str, str], body: bytes, *, with_length: bool,
              timeout: float | None = None, resend_on_stale: bool = True) -> WireResponse:
        length = f"content-length: {len(body)}\r\n" if with_length else ""
        request = request_line + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + \
            f"{length}\r\n".encode() + body
        connection, reused = self._checkout(timeout)
        try:
            return self._exchange(connection, request, timeout)
        except _StaleConnection as stale:
            if not reused or not resend_on_stale:
                raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=stale.__cause__,
                                            request=None) from stale.__cause__
        # The server closed a pooled connection just as it was reused (nothing of a response came back): once
        # more on a new connection, as urllib3/http.client-based clients do, instead of spending a retry on it.
        return self._exchange(self._connect(timeout), request, timeout, stale_is_closed=True)

    def _exchange(self, connection: _Connection, request: bytes, timeout: float | None,
                  stale_is_closed: bool = False) -> WireResponse:
        got_response = False
        try:
            if timeout is not None:
                connection.sock.settimeout(timeout)
            connection.sock.sendall(request)
            first = connection.reader.peek(1)[:1] if hasattr(connection.reader, "peek") else b"x"
            if not first:
                raise ConnectionResetError("connection closed before the response")
            got_response = True
            response, keep_alive = self._read_response(connection.reader, self._max_body)
        except BodyTooLarge:
            connection.close()
            raise
        except socket.timeout as exc:
            connection.close()
            raise ReadTimeoutError(endpoint_url=self.endpoint_url, error=exc) from exc
        except ssl.SSLError as exc:
            connection.close()
            raise SSLError(endpoint_url=self.endpoint_url, error=exc) from exc
        except (OSError, ValueError) as exc:  # reset, EOF mid-response, malformed response
            connection.close()
            if not got_response and not stale_is_closed and isinstance(exc, OSError):
                raise _StaleConnection() from exc
            raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=exc, request=None) from exc
        if keep_alive:
            if timeout is not None:
                connection.sock.settimeout(self._read_timeout)
            self._checkin(connection)
        else:
            connection.close()
        return response

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- connections ----------------------------------------------------------------------------------------

    def _checkout(self, timeout: float | None = None) -> tuple[_Connection, bool]:
        """A pooled connection still open (True: reused), else a new one (False)."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(timeout), False
            if not connection.dropped():
                return connection, True
            connection.close()

    def _checkin(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, timeout: float | None = None) -> _Connection:
        connect_timeout = self._connect_timeout if timeout is None else min(timeout, self._connect_timeout)
        try:
            sock = socket.create_connection((self._host, self._port), timeout=connect_timeout)
        except socket.timeout as exc:
            raise ConnectTimeoutError(endpoint_url=self.endpoint_url, error=exc) from exc
        except OSError as exc:  # refused, unreachable, gaierror
            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
        except socket.timeout as exc:
            sock.close()
            raise ConnectTimeoutError(endpoint_url=self.endpoint_url, error=exc) from exc
        except ssl.SSLError as exc:
            sock.close()
            raise SSLError(endpoint_url=self.endpoint_url, error=exc) from exc
        except OSError as exc:
            sock.close()
            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc) from exc
        sock.settimeout(self._read_timeout)
        return _Connection(sock)

    # --- responses ------------------------------------------------------------------------------------------

    @staticmethod
    def _read_response(reader: BinaryIO, max_body: int | None = None) -> tuple[WireResponse, bool]:
        while True:
            status_line = reader.readline(65537)
            if not status_line:
                raise ConnectionResetError("connection closed before the response")
            version, _, rest = status_line.decode("latin-1").partition(" ")
            status = int(rest[:3])
            headers: dict[str, str] = {}
            for _ in range(MAX_HEADER_LINES):
                line = reader.readline(65537)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
            else:
                raise ValueError("too many response header lines")
            if status != 100:
                break
        if status in (204, 304) or status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = Transport._read_chunked(reader, max_body)
        else:
            length = headers.get("content-length")
            if length is not None:
                if max_body is not None and int(length) > max_body:   # refused before reading any of it
                    raise BodyTooLarge(max_body, int(length))
                body = reader.read(int(length))
                if len(body) != int(length):
                    raise ConnectionResetError("connection closed mid-body")
            else:
                # No length: the body ends with the connection (read one byte past the limit to detect it).
                body = reader.read() if max_body is None else reader.read(max_body + 1)
                if max_body is not None and len(body) > max_body:
                    raise BodyTooLarge(max_body, None)
                headers["connection"] = "close"
        connection = headers.get("connection", "").lower()
        keep_alive = connection == "keep-alive" if version == "HTTP/1.0" else "close" not in connection
        return WireResponse(status, headers, body), keep_alive

    @staticmethod
    def _read_chunked(reader: BinaryIO, max_body: int | None = None) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = reader.readline(65537)
            if not size_line:
                raise ConnectionResetError("connection closed mid-chunk")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while reader.readline(65537) not in (b"\r\n", b"\n", b""):   # trailers
                    pass
                return b"".join(parts)
            total += size
            if max_body is not None and total > max_body:   # checked on the chunk's declared size, before reading it
                raise BodyTooLarge(max_body, None)
            chunk = reader.read(size)
            if len(chunk) != size:
                raise ConnectionResetError("connection closed mid-chunk")
            parts.append(chunk)
            reader.readline(65537)
