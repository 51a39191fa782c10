"""``python -m stack.faults.aws_proxy --upstream dynamodb=http://127.0.0.1:PORT ...``: the AWS chaos proxy.

One listener per AWS service in front of the emulator (moto's per-service servers, or LocalStack), plus an edge
listener that routes by the request's SigV4 signing scope (as LocalStack's single port does) and serves the
control API. LocalStack's Chaos API works on every listener, so experiments written for LocalStack's paid plan
run here unchanged:

    POST/PATCH/DELETE/GET /_localstack/chaos/faults   [{"region", "service", "operation", "probability",
                                                        "error": {"statusCode", "code"}}]   (replace/add/remove/list)
    POST/GET /_localstack/chaos/effects               {"latency": ms}
Extensions: ``PUT/DELETE /_swsim/outages/{service}`` (the service's listener refuses connections: closed port),
``GET /_swsim/outages``, ``GET /_swsim/counters`` (calls per service/operation, injected errors, rule stats),
``POST /_swsim/counters/reset``, ``GET /health``.

Injected errors go out in the service's wire format (see stack.faults.aws_wire), so boto3 retries them and raises
the real exception class. Each request is forwarded byte for byte over a kept-alive upstream connection.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stack.faults.aws_wire import error_response, identify
from stack.faults.chaos_rules import RuleSet
from stack.faults.control_http import control_response
from stack.faults.control_http import json_response as _json
from stack.faults.control_http import reset as _reset
from stack.faults.envelope import FaultDefinitionError
from stack.faults.http_wire import Head, dechunk, read_body, read_head
from stack.faults.proxy_main import proxy_parser, run_proxy, stop_event
from stack.readiness import announce_ready

CONTROL_PREFIXES = ("/_localstack/", "/_swsim/", "/health")


@dataclass
class Upstream:
    host: str
    port: int


@dataclass
class ServiceListener:
    service: str | None                       # None: the edge (routes by signing scope)
    port: int
    server: asyncio.AbstractServer | None = None
    connections: set[asyncio.StreamWriter] = field(default_factory=set)


class AwsChaosProxy:
    def __init__(self, upstreams: dict[str, str], host: str = "127.0.0.1", seed: int = 0) -> None:
        self.host = host
        self.upstreams = {s: _upstream(url) for s, url in upstreams.items()}
        self.rules = RuleSet(seed=seed)
        self.listeners: dict[str | None, ServiceListener] = {}
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.outages: set[str] = set()

    # ---- listeners -------------------------------------------------------------------------------------------
    async def start(self, edge_port: int = 0, ports: dict[str, int] | None = None) -> None:
        for service in [None, *self.upstreams]:
            port = edge_port if service is None else (ports or {}).get(service, 0)
            listener = ServiceListener(service, port)
            await self._open(listener)
            self.listeners[service] = listener

    async def _open(self, listener: ServiceListener) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            listener.connections.add(writer)
            try:
                await self._serve(listener, reader, writer)
            finally:
                listener.connections.discard(writer)

        listener.server = await asyncio.start_server(handle, self.host, listener.port, reuse_address=True,
                                                     limit=1 << 20)
        listener.port = listener.server.sockets[0].getsockname()[1]

    def url(self, service: str | None) -> str:
        return f"http://{self.host}:{self.listeners[service].port}"

    async def set_outage(self, service: str, down: bool) -> None:
        """Close the service's port (connection refused) and drop its connections, or open it again."""
        listener = self.listeners.get(service)
        if listener is None:
            raise FaultDefinitionError(f"no listener for service {service!r}; have {sorted(self.upstreams)}")
        if down and service not in self.outages:
            self.outages.add(service)
            assert listener.server is not None
            listener.server.close()
            for writer in list(listener.connections):
                _reset(writer)
            await listener.server.wait_closed()
        elif not down and service in self.outages:
            await self._open(listener)
            self.outages.discard(service)

    # ---- one client connection -------------------------------------------------------------------------------
    async def _serve(self, listener: ServiceListener, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        links = UpstreamLinks()
        try:
            while True:
                head = await read_head(reader)
                if head is None:
                    return
                method, target = head.first[0], head.first[1]
                if b"100-continue" in head.headers.get(b"expect", b"").lower():
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body, _ = await read_body(reader, head)
                if target.startswith(CONTROL_PREFIXES) and (listener.service is None or target[1] == "_"):
                    writer.write(await control_response(method, target, body, head.keep_alive, self._dispatch))
                    await writer.drain()
                    if not head.keep_alive:
                        return
                    continue
                if not await self._proxy(listener, head, body, writer, links):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            _reset(writer)
        finally:
            links.close()
            writer.close()

    async def _proxy(self, listener: ServiceListener, head: Head, body: bytes, writer: asyncio.StreamWriter,
                     links: "UpstreamLinks") -> bool:
        """Answer one request (injected error, or the upstream's response); False when the connection ends."""
        method, target = head.first[0], head.first[1]
        payload = dechunk(body) if b"chunked" in head.headers.get(b"transfer-encoding", b"") else body
        call = identify(method, target, head.headers, payload, listener.service)
        key = f"{call.service}.{call.operation}"
        self.calls[key] += 1
        decision = self.rules.decide(call.service, call.operation, call.region)
        if decision.latency_s > 0:
            await asyncio.sleep(decision.latency_s)
        if decision.error is not None:
            self.injected[key] += 1
            rule = decision.error
            assert rule.status is not None and rule.code is not None
            writer.write(error_response(call, rule.status, rule.code, rule.message, head.keep_alive))
            await writer.drain()
            return head.keep_alive
        service = call.service or ""
        up = self.upstreams.get(service)
        if up is None:
            writer.write(_plain(400, f"no upstream for service {call.service!r}", head.keep_alive))
            await writer.drain()
            return head.keep_alive
        request = _forward_head(head) + body
        for attempt in (1, 2):
            try:
                conn, reused = await links.get(service, up)
            except OSError:
                _reset(writer)  # the emulator is down: the client sees a dropped connection
                return False
            conn[1].write(request)
            response = await read_head(conn[0])
            if response is not None:
                break
            conn[1].close()
            if not reused or attempt == 2:  # a kept connection the server had closed: once more on a fresh one
                raise ConnectionError("upstream closed without a response")
        status = int(response.first[1])
        rbody, closes = await read_body(conn[0], response, response_to_head=method == "HEAD", status=status)
        writer.write(_client_head(response, head.keep_alive, closes) + rbody)
        if closes or not response.keep_alive:
            conn[1].close()
            links.prepare(service, up)  # moto closes every connection: open the next one while the client reads
        else:
            links.put(service, conn)
        await writer.drain()
        return head.keep_alive and not closes

    # ---- control API -----------------------------------------------------------------------------------------
    async def _dispatch(self, method: str, path: str, data: Any) -> Any:
        if path == "/_localstack/chaos/faults":
            actions = {"POST": self.rules.replace, "PUT": self.rules.replace, "PATCH": self.rules.extend,
                       "DELETE": self.rules.remove}
            if method in actions:
                actions[method](data if data is not None else [])
            return self.rules.listing() if method in (*actions, "GET") else None
        if path == "/_localstack/chaos/effects":
            if method in ("POST", "PUT"):
                self.rules.set_effects(data if data is not None else {})
            return dict(self.rules.effects) if method in ("POST", "PUT", "GET") else None
        if path.startswith("/_swsim/outages"):
            service = path.removeprefix("/_swsim/outages").strip("/")
            if service and method in ("PUT", "POST", "DELETE"):
                await self.set_outage(service, method != "DELETE")
            return sorted(self.outages)
        if path == "/_swsim/counters" and method == "GET":
            return {"calls": dict(self.calls), "injected": dict(self.injected), "rules": self.rules.stats()}
        if path == "/_swsim/counters/reset" and method == "POST":
            self.calls.clear()
            self.injected.clear()
            return {"reset": True}
        if path == "/health":
            return {"status": "ok", "listeners": {s or "edge": self.url(s) for s in self.listeners}}
        return None

    def describe(self) -> dict[str, Any]:
        return {"listeners": {s: self.url(s) for s in self.upstreams}, "edge": self.url(None)}


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class UpstreamLinks:
    """One client connection's upstream connections (per service, for the edge), and a spare opened ahead: moto
    closes each connection after one response, so connecting for the next call overlaps the client's turn."""

    def __init__(self) -> None:
        self.kept: dict[str, Conn] = {}
        self.spares: dict[str, asyncio.Future[Conn]] = {}

    async def get(self, service: str, up: Upstream) -> tuple[Conn, bool]:
        """A connection and whether it was open before this call (it may have been closed by the server)."""
        conn = self.kept.pop(service, None)
        if conn is not None and not conn[1].is_closing():
            return conn, True
        spare = self.spares.pop(service, None)
        if spare is not None:
            try:
                conn = await spare
            except OSError:
                conn = None
            if conn is not None and not conn[1].is_closing():
                return conn, True
        return await asyncio.open_connection(up.host, up.port, limit=1 << 20), False

    def put(self, service: str, conn: Conn) -> None:
        self.kept[service] = conn

    def prepare(self, service: str, up: Upstream) -> None:
        if service not in self.spares:
            self.spares[service] = asyncio.ensure_future(asyncio.open_connection(up.host, up.port, limit=1 << 20))

    def close(self) -> None:
        for conn in self.kept.values():
            conn[1].close()
        for spare in self.spares.values():
            if not spare.done():
                spare.cancel()
            elif not spare.cancelled() and spare.exception() is None:
                spare.result()[1].close()
        self.kept.clear()
        self.spares.clear()


def _forward_head(head: Head) -> bytes:
    """The request head as received, minus ``Expect`` (the proxy already answered 100 Continue)."""
    lines = [line for line in head.raw_lines if not line.lower().startswith(b"expect:")] \
        if b"expect" in head.headers else head.raw_lines
    return b"\r\n".join([" ".join(head.first).encode("latin-1"), *lines]) + b"\r\n\r\n"


def _client_head(response: Head, keep_alive: bool, delimited_by_close: bool) -> bytes:
    """The upstream's response head with the hop-by-hop ``Connection`` set for the client's hop: moto closes
    every connection, but the client may keep its connection to the proxy (the proxy reconnects upstream)."""
    lines = [line for line in response.raw_lines if not line.lower().startswith((b"connection:", b"keep-alive:"))]
    lines.append(b"Connection: keep-alive" if keep_alive and not delimited_by_close else b"Connection: close")
    return b"\r\n".join([" ".join(response.first).encode("latin-1"), *lines]) + b"\r\n\r\n"


def _plain(status: int, text: str, keep_alive: bool) -> bytes:
    return _json(status, {"error": text}, keep_alive)


def _upstream(url: str) -> Upstream:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"upstream URL needs a host and a port: {url!r}")
    return Upstream(parts.hostname, parts.port)


def _parse_upstreams(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        service, sep, url = value.partition("=")
        if not sep or not url:
            raise SystemExit(f"--upstream takes SERVICE=URL, got {value!r}")
        out[service] = url
    return out


async def _main(args: argparse.Namespace) -> None:
    proxy = AwsChaosProxy(_parse_upstreams(args.upstream), args.host, args.seed)
    ports = {s: int(p) for s, _, p in (v.partition("=") for v in args.listen)} if args.listen else None
    await proxy.start(args.port, ports)
    stop = stop_event()
    announce_ready("aws-chaos", proxy.url(None), args.ready_file, **proxy.describe())
    await stop.wait()


def _own_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", action="append", default=[], metavar="SERVICE=URL",
                        help="an AWS service and its emulator endpoint (repeat per service)")
    parser.add_argument("--listen", action="append", default=[], metavar="SERVICE=PORT",
                        help="pin a service's listener port (default: any free port)")


def main(argv: list[str] | None = None) -> int:
    parser = proxy_parser("stack.faults.aws_proxy", __doc__, own_flags=_own_flags,
                          port_help="edge/control listener port (0 = any free port)",
                          seed_help="seed of rules that give none")
    return run_proxy(_main, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
