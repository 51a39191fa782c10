"""Global-table replication between the two regions' SyncWellMetadata tables, with a configurable lag.

``python -m stack.region.replicator --table T --moto URL --capture us-east-1=UPSTREAM --capture us-west-2=UPSTREAM
[--lag-s 1.0] [--jitter-s 0] [--port 0] [--ready-file F]``

How: each region's services reach DynamoDB through this process's *capture listener* for their region, a
pass-through to ``UPSTREAM`` (the AWS chaos proxy's DynamoDB listener, or moto) that notes the key and time of
every acknowledged write (what a DynamoDB stream would carry). ``lag_s`` after a write, the item's current image
is read from the source region and written to the other region unless that region holds a newer write
(last-writer-wins, :mod:`stack.region.lww`): every write is stamped on its way with its version (time, region) in
the item, and the replicator's put is conditional on the destination item's version, so DynamoDB decides
atomically (no check-then-write window). Reads and writes of the replication itself go to moto directly (the
replication is AWS's, not the application's), one moto serving both regions (the region is in the signature).

Faults, on the control API: ``POST /pause`` / ``/resume`` (AWS FIS ``aws:dynamodb:global-table-pause-replication``:
changes are kept and flow on resume), ``PUT|DELETE /regions/{region}/down`` (a region that is down neither sends
nor receives; its unreplicated changes wait until it is back, as they would in AWS), ``PUT /config {"lag_s"}``.
``GET /status``: per direction the captured, applied, LWW-dropped and coalesced changes, pending ones (count,
oldest write's age) and replication latency percentiles. Ready line: ``SWSIM-READY {"service": "replicator",
"url": control, "capture": {region: url}}``.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from botocore.exceptions import ClientError

from stack.readiness import announce_ready
from stack.region.capture import WRITE_OPERATIONS, operation_of, written_keys
from stack.region.lww import ItemKey, LwwLedger, Version, newer_condition, stamp_request, version_of
from stack.region.serving import run_until_stopped

HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
LATENCY_WINDOW = 2000
BATCH_GET = 100
WRITERS = 8          # concurrent conditional writes per batch (BatchWriteItem takes no conditions)
APPLIED, SAME, LOST = "applied", "same", "lost"


@dataclass
class Change:
    key: ItemKey
    ts: float          # when the write was acknowledged in the source region (time.time())
    due: float         # when the replication applies it (ts + lag + jitter)


@dataclass
class Direction:
    source: str
    destination: str
    pending: collections.deque[Change] = field(default_factory=collections.deque)
    captured: int = 0
    applied: int = 0
    dropped_lww: int = 0     # lost to a newer write the destination holds (last writer wins)
    coalesced: int = 0       # already there: an earlier copy of the item carried this change too
    errors: int = 0
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=LATENCY_WINDOW))
    last_applied_ts: float | None = None   # write time of the newest change applied

    @property
    def name(self) -> str:
        return f"{self.source}>{self.destination}"

    def status(self, now: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        pct = (lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)) if ordered else \
            (lambda q: None)
        oldest = self.pending[0].ts if self.pending else None
        return {"captured": self.captured, "applied": self.applied, "dropped_lww": self.dropped_lww,
                "coalesced": self.coalesced, "errors": self.errors, "pending": len(self.pending),
                "oldest_pending_ts": oldest, "oldest_pending_age_s": None if oldest is None else round(now - oldest, 3),
                "latency_p50_s": pct(0.5), "latency_p99_s": pct(0.99), "latency_max_s": ordered[-1] if ordered else None,
                "last_applied_ts": self.last_applied_ts}


class Replicator:
    def __init__(self, table: str, moto_url: str, regions: list[str], lag_s: float, jitter_s: float,
                 seed: int) -> None:
        import boto3

        self.table = table
        self.regions = regions
        self.lag_s = lag_s
        self.jitter_s = jitter_s
        self.rng = random.Random(seed)
        self.paused = False
        self.down: set[str] = set()
        self.ledger = LwwLedger(tuple(regions))
        self.lock = threading.Lock()
        self.directions = {(a, b): Direction(a, b) for a in regions for b in regions if a != b}
        session = boto3.session.Session()
        self.clients = {r: session.client("dynamodb", region_name=r, endpoint_url=moto_url,
                                          aws_access_key_id="testing", aws_secret_access_key="testing")
                        for r in regions}
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="replicate")
        self.writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="replicate-put")

    # ---- capture ---------------------------------------------------------------------------------------------
    def captured(self, region: str, keys: list[ItemKey], ts: float) -> None:
        with self.lock:
            for key in keys:
                self.ledger.local_write(region, key, ts)
                for (source, _), direction in self.directions.items():
                    if source == region:
                        due = ts + self.lag_s + (self.rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0)
                        direction.pending.append(Change(key, ts, due))
                        direction.captured += 1

    # ---- apply -----------------------------------------------------------------------------------------------
    def due_changes(self, direction: Direction, now: float) -> list[Change]:
        if self.blocked(direction):
            return []
        due: list[Change] = []
        with self.lock:
            while direction.pending and direction.pending[0].due <= now:
                due.append(direction.pending.popleft())
        return due

    def apply(self, direction: Direction, changes: list[Change]) -> None:
        """Copy each changed item's current image from the source to the destination (last writer wins): one
        BatchGetItem per 100 keys, then one conditional PutItem (or DeleteItem) per item, a few at a time."""
        latest: dict[ItemKey, Change] = {}
        for change in changes:
            latest[change.key] = change
        keys = list(latest)
        for start in range(0, len(keys), BATCH_GET):
            chunk = keys[start:start + BATCH_GET]
            try:
                self._apply_chunk(direction, chunk, latest)
            except Exception as exc:  # noqa: BLE001  a failed copy is retried, as the service would
                direction.errors += 1
                print(f"replicator: {direction.name}: {exc!r}", file=sys.stderr, flush=True)
                with self.lock:
                    retry_at = time.time() + 0.5
                    for key in reversed(chunk):
                        direction.pending.appendleft(Change(key, latest[key].ts, retry_at))

    def blocked(self, direction: Direction) -> bool:
        return self.paused or direction.source in self.down or direction.destination in self.down

    def _requeue(self, direction: Direction, chunk: list[ItemKey], latest: dict[ItemKey, Change]) -> None:
        with self.lock:
            for key in reversed(chunk):
                direction.pending.appendleft(latest[key])

    def _apply_chunk(self, direction: Direction, chunk: list[ItemKey], latest: dict[ItemKey, Change]) -> None:
        # A region that went down (or a pause) mid-batch stops the batch: what was not written stays pending,
        # so a dead region's data is never read after its death.
        if self.blocked(direction):
            self._requeue(direction, chunk, latest)
            return
        images = self._batch_get(self.clients[direction.source], chunk)
        if self.blocked(direction):
            self._requeue(direction, chunk, latest)
            return
        # An image carries its own version (stamped by the capture listener); a deleted item's comes from the
        # ledger, an unstamped one's (written before the pair existed) from its change.
        with self.lock:
            versions = {key: version_of(images.get(key)) or self.ledger.version(direction.source, key)
                        or Version(latest[key].ts, direction.source) for key in chunk}
            winners = [key for key in chunk if self.ledger.should_apply(direction.destination, key, versions[key])]
            for key in set(chunk) - set(winners):
                if self.ledger.version(direction.destination, key) == versions[key]:
                    direction.coalesced += 1      # an earlier copy of the item already carried this change
                else:
                    direction.dropped_lww += 1
        # Each write is conditional on the destination's version: DynamoDB decides, atomically, so a local write
        # landing after the read above is never overwritten by this older image.
        client = self.clients[direction.destination]
        outcomes = list(self.writers.map(lambda key: self._put_if_newer(client, key, images.get(key), versions[key]),
                                         winners))
        now = time.time()
        with self.lock:
            for key, outcome in zip(winners, outcomes):
                if outcome == LOST:
                    direction.dropped_lww += 1
                    self.ledger.conflicts += 1
                    continue
                if versions[key].newer_than(self.ledger.version(direction.destination, key)):
                    self.ledger.applied(direction.destination, key, versions[key])
                if outcome == SAME:
                    direction.coalesced += 1
                    continue
                direction.applied += 1
                direction.latencies.append(now - latest[key].ts)
                direction.last_applied_ts = max(direction.last_applied_ts or 0.0, latest[key].ts)

    def _put_if_newer(self, client: Any, key: ItemKey, image: dict[str, Any] | None, version: Version) -> str:
        """Write ``image`` (None: delete) unless the destination holds ``version`` or newer: APPLIED, SAME (it held
        this very version: an earlier change of the item already carried it) or LOST (it held a newer one)."""
        condition = newer_condition(version)
        try:
            if image is not None:
                client.put_item(TableName=self.table, Item=image, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                **condition)
            else:
                client.delete_item(TableName=self.table, Key=_key_attrs(key),
                                   ReturnValuesOnConditionCheckFailure="ALL_OLD", **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return SAME if version_of(exc.response.get("Item")) == version else LOST
        return APPLIED

    def _batch_get(self, client: Any, keys: list[ItemKey]) -> dict[ItemKey, dict[str, Any]]:
        found: dict[ItemKey, dict[str, Any]] = {}
        request: dict[str, Any] = {self.table: {"Keys": [_key_attrs(k) for k in keys], "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self.table, []):
                found[(item["PK"]["S"], item["SK"]["S"])] = item
            request = answer.get("UnprocessedKeys") or {}
        return found

    async def run(self, tick_s: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick_s)
            now = time.time()
            work = [(d, self.due_changes(d, now)) for d in self.directions.values()]
            await asyncio.gather(*(loop.run_in_executor(self.pool, self.apply, d, c) for d, c in work if c))

    def status(self) -> dict[str, Any]:
        now = time.time()
        with self.lock:
            return {"paused": self.paused, "down": sorted(self.down), "lag_s": self.lag_s,
                    "jitter_s": self.jitter_s, "now": now, "conflicts": self.ledger.conflicts,
                    "directions": {d.name: d.status(now) for d in self.directions.values()}}

    def pending_keys(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            for direction in self.directions.values():
                if direction.name == name:
                    return [{"pk": c.key[0], "sk": c.key[1], "ts": c.ts} for c in direction.pending]
        raise KeyError(name)


def _key_attrs(key: ItemKey) -> dict[str, Any]:
    return {"PK": {"S": key[0]}, "SK": {"S": key[1]}}


# ---- HTTP ------------------------------------------------------------------------------------------------------
def capture_app(replicator: Replicator, region: str, upstream: str, session_box: dict[str, ClientSession]) -> web.Application:
    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = operation_of(request.headers.get("X-Amz-Target"))
        keys: list[ItemKey] = []
        ts = time.time()
        if operation in WRITE_OPERATIONS:
            # The write carries its version (time and region) into the item: what the replicator's conditional
            # put compares with. Stamped before it is sent, so the item holds the time its ledger entry says.
            try:
                request_body = json.loads(body or b"{}")
                keys = written_keys(operation, request_body, replicator.table)
                if stamp_request(operation, request_body, replicator.table, Version(ts, region)):
                    body = json.dumps(request_body).encode()
            except ValueError:
                keys = []
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        session = session_box["session"]
        try:
            async with session.request(request.method, upstream + request.path_qs, data=body,
                                       headers=headers) as response:
                payload = await response.read()
                out_headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
                status = response.status
        except OSError as exc:
            return web.Response(status=503, content_type="application/x-amz-json-1.0",
                                text=json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
                                                 "message": f"replicator capture: upstream unreachable: {exc}"}))
        if status == 200 and keys:
            replicator.captured(region, keys, ts)
        return web.Response(status=status, body=payload, headers=out_headers)

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def control_app(replicator: Replicator) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "replicator"})

    async def status(_: web.Request) -> web.Response:
        return web.json_response(replicator.status())

    async def pause(_: web.Request) -> web.Response:
        replicator.paused = True
        return web.json_response(replicator.status())

    async def resume(_: web.Request) -> web.Response:
        replicator.paused = False
        return web.json_response(replicator.status())

    async def config(request: web.Request) -> web.Response:
        body = await request.json()
        if "lag_s" in body:
            replicator.lag_s = float(body["lag_s"])
        if "jitter_s" in body:
            replicator.jitter_s = float(body["jitter_s"])
        return web.json_response(replicator.status())

    async def region_down(request: web.Request) -> web.Response:
        region = request.match_info["region"]
        if region not in replicator.regions:
            return web.json_response({"error": f"unknown region {region!r}"}, status=404)
        if request.method == "PUT":
            replicator.down.add(region)
        else:
            replicator.down.discard(region)
        return web.json_response(replicator.status())

    async def pending(request: web.Request) -> web.Response:
        try:
            return web.json_response({"pending": replicator.pending_keys(request.query.get("direction", ""))})
        except KeyError:
            return web.json_response({"error": "unknown direction; use SOURCE>DESTINATION"}, status=404)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/status", status)
    app.router.add_post("/pause", pause)
    app.router.add_post("/resume", resume)
    app.router.add_put("/config", config)
    app.router.add_route("PUT", "/regions/{region}/down", region_down)
    app.router.add_route("DELETE", "/regions/{region}/down", region_down)
    app.router.add_get("/pending", pending)
    return app


async def serve(args: argparse.Namespace) -> None:
    captures = [tuple(item.split("=", 1)) for item in args.capture]
    regions = [region for region, _ in captures]
    replicator = Replicator(args.table, args.moto.rstrip("/"), regions, args.lag_s, args.jitter_s, args.seed)
    box: dict[str, ClientSession] = {"session": ClientSession(connector=TCPConnector(limit=200),
                                                               timeout=ClientTimeout(total=60),
                                                               auto_decompress=False)}
    runners = []
    urls: dict[str, str] = {}
    for region, upstream in captures:
        runner = web.AppRunner(capture_app(replicator, region, upstream.rstrip("/"), box), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, 0)
        await site.start()
        runners.append(runner)
        urls[region] = f"http://{args.host}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    control = web.AppRunner(control_app(replicator), access_log=None)
    await control.setup()
    site = web.TCPSite(control, args.host, args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    announce_ready("replicator", f"http://{args.host}:{port}", args.ready_file, capture=urls, regions=regions,
                   lag_s=args.lag_s)
    await replicator.run(args.tick_s)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.region.replicator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default="SyncWellMetadata")
    parser.add_argument("--moto", required=True, help="moto's DynamoDB endpoint (serves every region)")
    parser.add_argument("--capture", action="append", required=True, metavar="REGION=UPSTREAM",
                        help="a capture listener for REGION forwarding to UPSTREAM (give it once per region)")
    parser.add_argument("--lag-s", type=float, default=1.0, help="replication delay after a write (default 1.0 s)")
    parser.add_argument("--jitter-s", type=float, default=0.0, help="extra uniform random delay, 0..J s")
    parser.add_argument("--tick-s", type=float, default=0.02, help="how often due changes are applied")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="control API port")
    parser.add_argument("--ready-file", default=None)
    args = parser.parse_args(argv)
    if len(args.capture) < 2 or any("=" not in c for c in args.capture):
        parser.error("give --capture REGION=UPSTREAM for each of (at least) two regions")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_until_stopped(serve, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
