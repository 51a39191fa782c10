"""A stub HTTP server with a known latency distribution, to check the load engine against ground truth.

    python -m scenarios.engine.stub_server [--stall-every 10 --stall-for 1] [--port 0] [--ready-file PATH]

Routes: ``/fast`` answers 200 at once; ``/work?ms=N`` answers 200 after N ms; ``/status/CODE`` answers CODE.
Stalls: every ``stall_every`` seconds, counted from the first request received, the server pauses for the
last ``stall_for`` seconds of the period: nothing is started or answered until the pause ends. So the latency
of a request arriving at ``t`` (seconds after the first) asking for ``ms`` is exactly :func:`expected_latency_s`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class StallPlan:
    every_s: float = 0.0  # 0 = never stall
    for_s: float = 0.0

    def release(self, t: float) -> float:
        """The earliest time >= t that is not inside a pause."""
        if self.every_s <= 0 or self.for_s <= 0:
            return t
        period_start = math.floor(t / self.every_s) * self.every_s
        pause_start = period_start + self.every_s - self.for_s
        return period_start + self.every_s if t >= pause_start else t


def expected_latency_s(at_s: float, work_ms: float, plan: StallPlan) -> float:
    """Ground truth for a request that arrives on schedule at ``at_s``."""
    begin = plan.release(at_s)
    done = plan.release(begin + work_ms / 1000.0)
    return done - at_s


REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


def _response(status: int, body: bytes = b"ok") -> bytes:
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode()
    return head + body


class StubProtocol(asyncio.Protocol):
    def __init__(self, server: "StubServer"):
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.server.handle(self, head.split("\r\n", 1)[0])

    def send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)


class StubServer:
    def __init__(self, plan: StallPlan):
        self.plan = plan
        self.first: float | None = None
        self.loop = asyncio.get_event_loop()

    def handle(self, protocol: StubProtocol, request_line: str) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        parts = request_line.split(" ")
        url = urlsplit(parts[1] if len(parts) > 1 else "/")
        if url.path == "/fast":
            status, work_ms = 200, 0.0
        elif url.path == "/work":
            status, work_ms = 200, float(parse_qs(url.query).get("ms", ["0"])[0])
        elif url.path.startswith("/status/"):
            status, work_ms = int(url.path.rsplit("/", 1)[1]), float(parse_qs(url.query).get("ms", ["0"])[0])
        else:
            status, work_ms = 404, 0.0
        t = now - self.first
        delay = expected_latency_s(t, work_ms, self.plan) if (work_ms or self.plan.every_s) else 0.0
        payload = _response(status)
        if delay <= 0:
            protocol.send(payload)
        else:
            self.loop.call_later(delay, protocol.send, payload)


async def serve(host: str, port: int, plan: StallPlan, ready_file: Path | None) -> None:
    stub = StubServer(plan)
    server = await asyncio.get_running_loop().create_server(lambda: StubProtocol(stub), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    ready = {"service": "stub-server", "url": f"http://{host}:{bound}", "pid": os.getpid(),
             "stall_every_s": plan.every_s, "stall_for_s": plan.for_s}
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.replace(ready_file)
    print("SWSIM-READY " + json.dumps(ready), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.engine.stub_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stall-every", type=float, default=0.0, help="pause period in seconds (0 = never)")
    parser.add_argument("--stall-for", type=float, default=0.0, help="pause length in seconds")
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    try:
        import uvloop  # faster loop when installed (uvicorn[standard] brings it)

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.host, args.port, StallPlan(args.stall_every, args.stall_for), args.ready_file))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
