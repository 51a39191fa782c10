"""Minimal HTTP/1.1 framing for the proxies: read one message head and its body (Content-Length, chunked or
until close) as raw bytes, so a proxied message is forwarded byte for byte without a web framework's cost."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_HEAD = 256 * 1024


@dataclass
class Head:
    first: list[str]                  # request: method, target, version; response: version, status, reason
    headers: dict[bytes, bytes]       # lower-cased names (last wins)
    raw_lines: list[bytes]            # header lines as received (forwarded as they are)

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get(b"connection", b"").lower()
        if self.first[0 if self.first[0].startswith("HTTP/") else 2] == "HTTP/1.0":
            return connection == b"keep-alive"
        return connection != b"close"


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next message head, or None at a clean end of stream."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ConnectionError("connection closed inside a message head") from exc
        return None
    lines = raw[:-4].split(b"\r\n")
    first = lines[0].decode("latin-1").split(" ", 2)
    if len(first) < 2:
        raise ConnectionError(f"malformed start line {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return Head(first, headers, lines[1:])


async def read_body(reader: asyncio.StreamReader, head: Head, *, response_to_head: bool = False,
                    status: int | None = None) -> tuple[bytes, bool]:
    """The raw body bytes (with chunk framing if chunked) and whether the body ended the connection."""
    if response_to_head or (status is not None and (100 <= status < 200 or status in (204, 304))):
        return b"", False
    if b"chunked" in head.headers.get(b"transfer-encoding", b"").lower():
        return await _read_chunked(reader), False
    length = head.headers.get(b"content-length")
    if length is not None:
        n = int(length)
        return (await reader.readexactly(n) if n else b""), False
    if status is None:          # a request without a length has no body
        return b"", False
    return await reader.read(), True   # a response delimited by the connection's end


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:                      # trailers, then the empty line
                line = await reader.readuntil(b"\r\n")
                parts.append(line)
                if line == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


def dechunk(raw: bytes) -> bytes:
    """The payload of a chunked body (for reading an SQS/query ``Action`` from it)."""
    out, pos = [], 0
    while True:
        end = raw.index(b"\r\n", pos)
        size = int(raw[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(raw[end + 2:end + 2 + size])
        pos = end + 2 + size + 2
