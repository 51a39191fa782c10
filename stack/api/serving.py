"""Run an ASGI app on uvicorn (uvloop + httptools), bound to a port chosen by the OS, and announce readiness
only once the server accepts connections. Shared by the API and the identity server.
"""
from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable

import uvicorn

from stack.readiness import announce_ready


class CleanExitServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown (exit status 143/130); a service stopped on
    purpose should exit 0, so the signal is only used to start the shutdown."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, *, service: str, host: str, port: int, ready_file: str | None,
          ready_extra: Callable[[str], dict[str, Any]] | None = None, sock: socket.socket | None = None) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (uvicorn installs the handlers and shuts down gracefully)."""
    sock = sock or bind_socket(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="on", access_log=False,
                            log_config=None, log_level="warning", timeout_graceful_shutdown=5,
                            backlog=2048)
    server = CleanExitServer(config)

    async def main() -> None:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                await serving          # startup failed: re-raise its error
                return
            await asyncio.sleep(0.01)
        extra = ready_extra(url) if ready_extra else {}
        announce_ready(service, url, ready_file, **extra)
        await serving

    from uvicorn._compat import asyncio_run

    asyncio_run(main(), loop_factory=config.get_loop_factory())
