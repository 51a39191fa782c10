"""``python -m stack.faults.redis_proxy --upstream redis://127.0.0.1:PORT/0``: a TCP fault proxy for Redis in
the spirit of Toxiproxy. The services talk to its port; toxics change what they see:

- ``down``: the port is closed (connection refused) and every open connection is reset; removed: open again.
- ``latency`` {latency_ms, jitter_ms}: each chunk a client sends waits that long before it reaches Redis, so
  every command's reply comes that much later (order kept).
- ``reset`` {drop_open}: open connections are reset (TCP RST) when it is added; new ones are reset at once with
  the toxic's probability (a seeded draw per connection).

Control API (HTTP, JSON) on its own port: ``GET/POST /toxics`` ({name, type, probability?, seed?,
attributes?}), ``DELETE /toxics/{name}``, ``DELETE /toxics``, ``GET /counters``, ``GET /health``.
Readiness: ``SWSIM-READY {"service": "redis-proxy", "url": "redis://127.0.0.1:P/0", "control_url": ...}``.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from stack.faults.control_http import Reply, serve_control_connection
from stack.faults.control_http import reset as _reset
from stack.faults.envelope import FaultDefinitionError
from stack.faults.proxy_main import proxy_parser, run_proxy, stop_event
from stack.readiness import announce_ready

TOXIC_TYPES = ("down", "latency", "reset")
CHUNK = 64 * 1024


@dataclass
class Toxic:
    name: str
    type: str
    probability: float
    attributes: dict[str, Any]
    rng: random.Random

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "probability": self.probability,
                "attributes": self.attributes}


def parse_toxic(data: Any, default_seed: int) -> Toxic:
    if not isinstance(data, dict):
        raise FaultDefinitionError("a toxic is an object {name, type, probability?, seed?, attributes?}")
    name, kind = data.get("name"), data.get("type")
    if not isinstance(name, str) or not name:
        raise FaultDefinitionError("toxic 'name' must be a non-empty string")
    if kind not in TOXIC_TYPES:
        raise FaultDefinitionError(f"toxic 'type' must be one of {list(TOXIC_TYPES)}, got {kind!r}")
    probability = data.get("probability", 1.0)
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise FaultDefinitionError(f"toxic 'probability' must be a number from 0 to 1, got {probability!r}")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise FaultDefinitionError("toxic 'attributes' must be an object")
    for key in ("latency_ms", "jitter_ms"):
        value = attributes.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise FaultDefinitionError(f"toxic attribute {key!r} must be a number >= 0, got {value!r}")
    seed = data.get("seed")
    return Toxic(name, kind, float(probability), dict(attributes),
                 random.Random(seed if isinstance(seed, int) else f"{default_seed}:{name}"))


@dataclass
class RedisFaultProxy:
    upstream_host: str
    upstream_port: int
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    toxics: dict[str, Toxic] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    _server: asyncio.AbstractServer | None = None
    _conns: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        await self._open()

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.reset_all()
            await self._server.wait_closed()
            self._server = None

    def reset_all(self) -> None:
        for writer in list(self._conns):
            _reset(writer)
            self.counters["dropped"] += 1

    # ---- toxics ----------------------------------------------------------------------------------------------
    async def add(self, data: Any) -> Toxic:
        toxic = parse_toxic(data, self.seed)
        self.toxics.pop(toxic.name, None)
        self.toxics[toxic.name] = toxic
        if toxic.type == "down":
            await self._close()
        elif toxic.type == "reset" and toxic.attributes.get("drop_open", True):
            self.reset_all()
        return toxic

    async def remove(self, name: str) -> bool:
        toxic = self.toxics.pop(name, None)
        if toxic is not None and toxic.type == "down" and not self._has("down"):
            await self._open()
        return toxic is not None

    async def clear(self) -> None:
        for name in list(self.toxics):
            await self.remove(name)

    def _has(self, kind: str) -> bool:
        return any(t.type == kind for t in self.toxics.values())

    def _delay_s(self) -> float:
        total = 0.0
        for toxic in self.toxics.values():
            if toxic.type == "latency" and (toxic.probability >= 1 or toxic.rng.random() < toxic.probability):
                jitter = toxic.attributes.get("jitter_ms", 0)
                total += toxic.attributes.get("latency_ms", 0) + (toxic.rng.uniform(0, jitter) if jitter else 0)
        return total / 1000.0

    # ---- connections -----------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["accepted"] += 1
        for toxic in self.toxics.values():
            if toxic.type == "reset" and toxic.rng.random() < toxic.probability:
                self.counters["reset"] += 1
                _reset(writer)
                return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            self.counters["upstream_refused"] += 1
            _reset(writer)
            return
        self._conns.add(writer)
        self.counters["active"] += 1
        try:
            await asyncio.gather(self._pump(reader, up_writer, delayed=True), self._pump(up_reader, writer),
                                 return_exceptions=True)
        finally:
            self.counters["active"] -= 1
            self._conns.discard(writer)
            up_writer.close()
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool = False) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if delayed and self.toxics:
                    delay = self._delay_s()
                    if delay:
                        await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        finally:
            if not writer.is_closing():
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    writer.close()

    # ---- control API -----------------------------------------------------------------------------------------
    async def serve_control(self, host: str, port: int) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._control_conn, host, port, reuse_address=True)

    async def _control_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_control_connection(reader, writer, self._dispatch)

    async def _dispatch(self, method: str, path: str, data: Any) -> Any:
        if path == "/toxics" and method == "POST":
            return (await self.add(data)).describe()
        if path == "/toxics" and method == "DELETE":
            await self.clear()
            return []
        if path.startswith("/toxics/") and method == "DELETE":
            found = await self.remove(path.removeprefix("/toxics/"))
            return Reply(200 if found else 404, {"removed": found})
        if path == "/toxics" and method == "GET":
            return [t.describe() for t in self.toxics.values()]
        if path == "/counters" and method == "GET":
            return dict(self.counters)
        if path == "/health":
            return {"status": "ok", "listening": self._server is not None}
        return None


class RedisProxyClient:
    """Client of the Redis fault proxy's control API."""

    def __init__(self, control_url: str, timeout_s: float = 10.0) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout_s = timeout_s

    def add_toxic(self, name: str, kind: str, probability: float = 1.0, seed: int | None = None,
                  attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"name": name, "type": kind, "probability": probability, "seed": seed, "attributes": attributes or {}}
        response = httpx.post(f"{self.control_url}/toxics", json=body, timeout=self.timeout_s)
        if response.status_code == 400:
            raise FaultDefinitionError(response.json().get("error", response.text))
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def remove_toxic(self, name: str) -> None:
        response = httpx.delete(f"{self.control_url}/toxics/{name}", timeout=self.timeout_s)
        if response.status_code not in (200, 404):
            response.raise_for_status()

    def toxics(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.control_url}/toxics", timeout=self.timeout_s).json()  # type: ignore[no-any-return]

    def counters(self) -> dict[str, int]:
        return httpx.get(f"{self.control_url}/counters", timeout=self.timeout_s).json()  # type: ignore[no-any-return]


async def _main(args: argparse.Namespace) -> None:
    upstream = urlsplit(args.upstream)
    if not upstream.hostname or not upstream.port:
        raise SystemExit(f"--upstream needs redis://HOST:PORT[/DB], got {args.upstream!r}")
    proxy = RedisFaultProxy(upstream.hostname, upstream.port, args.host, args.port, args.seed)
    await proxy.start()
    control = await proxy.serve_control(args.host, args.control_port)
    control_port = control.sockets[0].getsockname()[1]
    stop = stop_event()
    db = upstream.path or "/0"
    announce_ready("redis-proxy", f"redis://{args.host}:{proxy.port}{db}", args.ready_file,
                   control_url=f"http://{args.host}:{control_port}", upstream=args.upstream)
    await stop.wait()


def _own_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", required=True, help="the Redis server, redis://HOST:PORT[/DB]")
    parser.add_argument("--control-port", type=int, default=0, help="control API port (0 = any free port)")


def main(argv: list[str] | None = None) -> int:
    parser = proxy_parser("stack.faults.redis_proxy", __doc__, own_flags=_own_flags,
                          port_help="proxy listener port (0 = any free port)",
                          seed_help="seed of toxics that give none")
    return run_proxy(_main, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
