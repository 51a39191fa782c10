"""A failover router in front of the two regions' APIs, in the manner of Route 53 failover routing.

``python -m stack.region.router --primary us-east-1=URL --secondary us-west-2=URL [--interval-s 30]
[--failure-threshold 3] [--timeout-s 4] [--ttl-s 60] [--failback manual|automatic] [--check-path /health] [--port 0]
[--ready-file F]``

Every ``interval_s`` each API's ``GET <check_path>`` is checked (``/health`` as the seeds' checks: the process
only; ``/health/deep`` also fails a region whose DynamoDB or SQS is down) (a check fails on a non-2xx answer, a refused
connection or no answer in ``timeout_s``); the record's answer moves as :mod:`stack.region.health` says, and a
client's request reaches the region it would have resolved (the old answer stays cached ``ttl_s``). Every other
request is proxied there unchanged; the answer carries ``X-Swsim-Region``. A region that does not answer gives
the client a 502, as a dead endpoint behind a cached DNS answer would.

Control: ``GET /_router/status`` (answer, health of each endpoint, events with times: check failures, health
changes, failover, failback), ``POST /_router/failback`` (the operator's manual failback), ``GET /_router/health``.
Defaults are Route 53's (30 s, 3 failures) and the seeds' DNS TTL (60 s, seed 003); scale them down for quick
rehearsals. Ready line: ``SWSIM-READY {"service": "router", "url": URL, ...}``.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from stack.readiness import announce_ready
from stack.region.health import FailoverRecord, HealthCheck
from stack.region.serving import run_until_stopped

HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
MAX_EVENTS = 5000


class Router:
    def __init__(self, endpoints: dict[str, tuple[str, str]], interval_s: float, threshold: int, timeout_s: float,
                 record: FailoverRecord, check_path: str = "/health") -> None:
        self.endpoints = endpoints                 # role -> (region, url)
        self.check_path = check_path
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.record = record
        self.checks = {role: HealthCheck(threshold) for role in endpoints}
        self.events: list[dict[str, Any]] = []
        self.served: dict[str, int] = {role: 0 for role in endpoints}
        self.session: ClientSession | None = None

    def event(self, kind: str, **fields: Any) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append({"t": time.time(), "kind": kind, **fields})

    async def check_forever(self, role: str) -> None:
        region, url = self.endpoints[role]
        assert self.session is not None
        while True:
            started = time.monotonic()
            ok, detail = await self._check(url)
            if not ok:
                self.event("check_failed", role=role, region=region, detail=detail)
            changed = self.checks[role].observe(ok)
            if changed is not None:
                self.event("healthy" if changed else "unhealthy", role=role, region=region)
                self._decide()
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def _check(self, url: str) -> tuple[bool, str]:
        assert self.session is not None
        try:
            async with self.session.get(url + self.check_path, timeout=ClientTimeout(total=self.timeout_s)) as response:
                await response.read()
                return 200 <= response.status < 300, f"HTTP {response.status}"
        except (ClientError, OSError, asyncio.TimeoutError) as exc:
            return False, type(exc).__name__

    def _decide(self) -> None:
        now = time.time()
        change = self.record.decide(self.checks["primary"].healthy, self.checks["secondary"].healthy, now)
        if change:
            self.event(change, to=self.record.answer.target, region=self.endpoints[self.record.answer.target][0],
                       clients_switch_at=now + self.record.ttl_s)

    def failback(self) -> str | None:
        now = time.time()
        change = self.record.failback_now(self.checks["primary"].healthy, now)
        self.event("manual_failback", result=change or "no change")
        if change:
            self.event(change, to="primary", region=self.endpoints["primary"][0],
                       clients_switch_at=now + self.record.ttl_s)
        return change

    def status(self) -> dict[str, Any]:
        now = time.time()
        target = self.record.client_target(now)
        return {"answer": asdict(self.record.answer), "client_target": target,
                "client_region": self.endpoints[target][0], "failback": self.record.failback,
                "ttl_s": self.record.ttl_s, "interval_s": self.interval_s, "timeout_s": self.timeout_s,
                "check_path": self.check_path,
                "endpoints": {role: {"region": region, "url": url, **asdict(self.checks[role])}
                              for role, (region, url) in self.endpoints.items()},
                "served": dict(self.served), "events": list(self.events), "now": now}

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        role = self.record.client_target(time.time())
        region, url = self.endpoints[role]
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            async with self.session.request(request.method, url + request.path_qs, data=body,
                                            headers=headers) as response:
                payload = await response.read()
                out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
                status = response.status
        except (ClientError, OSError, asyncio.TimeoutError) as exc:
            return web.json_response({"error": "region_unreachable", "region": region, "detail": repr(exc)},
                                     status=502, headers={"X-Swsim-Region": region})
        self.served[role] += 1
        out["X-Swsim-Region"] = region
        return web.Response(status=status, body=payload, headers=out)


def build_app(router: Router) -> web.Application:
    async def status(_: web.Request) -> web.Response:
        return web.json_response(router.status())

    async def failback(_: web.Request) -> web.Response:
        change = router.failback()
        return web.json_response({"result": change or "no change", **router.status()})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "router"})

    async def on_startup(app: web.Application) -> None:
        router.session = ClientSession(connector=TCPConnector(limit=200), timeout=ClientTimeout(total=60),
                                       auto_decompress=False)
        app["checkers"] = [asyncio.create_task(router.check_forever(role)) for role in router.endpoints]

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_get("/_router/status", status)
    app.router.add_post("/_router/failback", failback)
    app.router.add_get("/_router/health", health)
    app.router.add_route("*", "/{tail:.*}", router.proxy)
    app.on_startup.append(on_startup)
    return app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.region.router", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--primary", required=True, metavar="REGION=URL")
    parser.add_argument("--secondary", required=True, metavar="REGION=URL")
    parser.add_argument("--interval-s", type=float, default=30.0, help="health check interval (Route 53: 30 or 10)")
    parser.add_argument("--failure-threshold", type=int, default=3, help="consecutive checks to change health")
    parser.add_argument("--timeout-s", type=float, default=4.0, help="a check with no answer by then fails")
    parser.add_argument("--ttl-s", type=float, default=60.0, help="DNS TTL: clients keep an answer this long")
    parser.add_argument("--failback", choices=("manual", "automatic"), default="manual")
    parser.add_argument("--check-path", default="/health",
                        help="what each check GETs: /health (the process, as the seeds) or /health/deep")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", default=None)
    args = parser.parse_args(argv)
    for flag in ("primary", "secondary"):
        if "=" not in getattr(args, flag):
            parser.error(f"--{flag} must be REGION=URL")
    if args.interval_s <= 0 or args.failure_threshold < 1:
        parser.error("--interval-s must be > 0 and --failure-threshold >= 1")
    if not args.check_path.startswith("/"):
        parser.error("--check-path must start with /")
    return args


async def serve(args: argparse.Namespace) -> None:
    endpoints = {role: tuple(getattr(args, role).split("=", 1)) for role in ("primary", "secondary")}
    router = Router({role: (region, url.rstrip("/")) for role, (region, url) in endpoints.items()},
                    args.interval_s, args.failure_threshold, min(args.timeout_s, args.interval_s),
                    FailoverRecord(failback=args.failback, ttl_s=args.ttl_s), args.check_path)
    router.record.answer.since = time.time() - args.ttl_s
    runner = web.AppRunner(build_app(router), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    announce_ready("router", f"http://{args.host}:{port}", args.ready_file, interval_s=args.interval_s,
                   failure_threshold=args.failure_threshold, ttl_s=args.ttl_s, failback=args.failback,
                   check_path=args.check_path, primary=endpoints["primary"][0], secondary=endpoints["secondary"][0])
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    return run_until_stopped(serve, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
