"""The fault proxies' small HTTP side: JSON responses written by hand on the raw stream, closing a client with a
TCP reset, and the control API's request -> response step (JSON body in, JSON out, definition errors as 400)."""
from __future__ import annotations

import asyncio
import json
import socket
import struct
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from stack.faults.envelope import FaultDefinitionError
from stack.faults.http_wire import read_body, read_head

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


@dataclass(frozen=True)
class Reply:
    """A control answer other than 200 (``dispatch`` returns the bare payload for 200, None for no endpoint)."""
    status: int
    payload: Any


Dispatch = Callable[[str, str, Any], Awaitable[Any]]   # (method, path, JSON body or None) -> payload | Reply | None


def json_response(status: int, payload: Any, keep_alive: bool) -> bytes:
    body = json.dumps(payload).encode()
    reason = REASONS.get(status, "OK")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode() + body


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed or unreachable endpoint looks to the client."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def control_response(method: str, target: str, body: bytes, keep_alive: bool, dispatch: Dispatch) -> bytes:
    """One control request's response: 400 for a body that is not JSON or a definition ``dispatch`` refuses,
    404 where it has no endpoint."""
    path = target.partition("?")[0].rstrip("/")
    try:
        data = json.loads(body) if body.strip() else None
        result = await dispatch(method, path, data)
    except FaultDefinitionError as exc:
        return json_response(400, {"error": str(exc)}, keep_alive)
    except json.JSONDecodeError as exc:
        return json_response(400, {"error": f"the body is not JSON: {exc}"}, keep_alive)
    if result is None:
        return json_response(404, {"error": f"no control endpoint {method} {path}"}, keep_alive)
    if isinstance(result, Reply):
        return json_response(result.status, result.payload, keep_alive)
    return json_response(200, result, keep_alive)


async def serve_control_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                   dispatch: Dispatch) -> None:
    """Answer control requests on one connection (kept alive as the client asks) until it closes."""
    try:
        while True:
            head = await read_head(reader)
            if head is None:
                return
            body, _ = await read_body(reader, head)
            writer.write(await control_response(head.first[0], head.first[1], body, head.keep_alive, dispatch))
            await writer.drain()
            if not head.keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
