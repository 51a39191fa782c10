"""connection_reset: abort the TCP connection (SO_LINGER 0 then abort, so the client sees a RST) instead of
answering. attributes: none."""
from __future__ import annotations

import socket
import struct

from . import register
from .base import Fault


class ConnectionAborted(Exception):
    """Raised after the socket was aborted; the server sends nothing more."""


def abort(request) -> None:
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    raise ConnectionAborted()


class ConnectionResetFault(Fault):
    type_name = "connection_reset"
    description = "abort the connection with a TCP reset instead of answering"

    async def before(self, ctx):
        abort(ctx.request)


register(ConnectionResetFault, "reset")
