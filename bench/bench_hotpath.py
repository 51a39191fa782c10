"""Sustained end-to-end hot path through the embedded stack (issue 3: >= 100 syncs/s on 2 cores, API p99 < 500 ms).

    python -m bench hotpath
    python bench/bench_hotpath.py [--rate 100] [--seconds 60] [--users 600] [--write-share 0.25]
    python bench/bench_hotpath.py --find-max [--steps 60,80,100,120,140] [--step-seconds 20]

Brings the whole stack up, then offers ``POST /v1/sync-jobs`` through the real API at a fixed open-loop arrival
rate (request i is due at t0 + i/rate whether or not earlier ones were answered; latency counts from the due
time, so a stalled API cannot hide its queueing), each with a real JWT (the stack's TokenMinter) and a fresh
Idempotency-Key, round robin over the seeded users' sync pairs (600 users at 100/s: each user every 6 s, well
under the per-user 10 req/s limit and longer than a sync, so the per-sync-config lock is never contended).
Jobs then run API -> SQS -> worker -> source fake -> destination fake like any manual sync.

The mix of syncs that write and syncs that find nothing new is set by the fakes' clock: items become visible as
the fake clock passes their upload time, so a thread advances every fake's clock each second. ``--write-share``
is the wanted share of syncs finding a new item; the clock speed is derived from it assuming ~0.4 new items per
sync pair per fake day (measured over the seeded pairs; P(new) = 1 - exp(-0.4 x fake days between syncs)). The measured mix is printed: items
written and third-party calls per sync (worker health counters; a nothing-new sync is 1 call, a writing one
list + destination list + hydrate + write), and the share of a sample of accepted jobs with itemsWritten > 0.
Before the measured run, one warm-up sync per user writes its (1-day) history, so the run measures the steady
state rather than every user's first sync.

Limits that are not the thing measured are lifted: the per-IP limit (1,000 requests / 5 min: every request here
comes from 127.0.0.1), the token buckets and the fakes' own rate limits, and the fakes' webhooks (their
notifications would add coalescer jobs the driver did not offer). The scheduler runs as usual (a few jobs).

Printed per 10 s window and in total: offered and accepted (202) rate, completed syncs/s (the workers'
``succeeded`` counter), API p50/p99, non-2xx answers by status, the backlog (accepted - completed) and the SQS
queue depth, the stack's CPU ms per sync completed in the window, and the client's own CPU (this process: the
driver, not the stack). After the load the backlog is drained, and the summary gives each process's CPU seconds
and CPU ms per sync over load + drain (every accepted job's whole cost): the figure to compare between runs on
a shared machine, where other work steals the cores and the syncs/s themselves mean little.
Verdict: sustained (completions keep up with the offered rate and the backlog stays bounded) and p99 < 500 ms.
``--direct`` leaves out the fault proxies (AWS chaos proxy, Redis proxy) that ``swsim up`` puts in between.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Run as a script (``python -m bench hotpath`` execs this file), sys.path[0] is bench/: put this checkout first.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from bench.bench_api import percentile  # noqa: E402
from bench.bench_worker import cpu_seconds, worker_counters  # noqa: E402
from stack import aws_clients  # noqa: E402
from stack.config import PROVIDERS  # noqa: E402
from stack.launcher import Stack  # noqa: E402

WINDOW_S = 10.0
P99_TARGET_MS = 500.0
DAY_S = 86400.0
NEW_ITEMS_PER_FAKE_DAY = 0.4    # measured: the seeded pairs (workouts, sleep, weight...) surface ~0.4 new items per fake day
HOT_QUEUE = "HotPathSyncQueue"


# ---- the client: open-loop, raw HTTP/1.1 keep-alive over asyncio streams -----------------------------------------
@dataclass
class Answer:
    done_at: float          # perf_counter when the answer arrived
    latency_ms: float       # from the request's due time (open loop: includes any wait for a connection)
    status: int             # 0: connection error
    job_id: str | None
    target: int             # index into the targets (whose token can read the job back)


class RawPool:
    """Keep-alive connections to one host; each carries one request at a time (no pipelining)."""

    IDLE_S = 3.0   # uvicorn closes a keep-alive connection idle for 5 s: never reuse one that old

    def __init__(self, url: str, max_connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.slots = asyncio.Semaphore(max_connections)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        async with self.slots:
            reused = self._reusable()
            answer = await self._exchange(reused, raw) if reused else None
            if answer is None:  # no idle connection, or the server had closed it: once more on a fresh one
                answer = await self._exchange(await asyncio.open_connection(self.host, self.port), raw)
            return answer or (0, b"")

    def _reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        now = time.monotonic()
        while self.idle:
            reader, writer, since = self.idle.pop()
            if now - since < self.IDLE_S:
                return reader, writer
            writer.close()
        return None

    async def _exchange(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        raw: bytes) -> tuple[int, bytes] | None:
        reader, writer = connection
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length, close = parse_head(head)
            body = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            writer.close()
            return None
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return status, body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, content length, server closes) of a response head; the API always sends Content-Length."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not expected from the API")
    return status, length, close


@dataclass(frozen=True)
class Target:
    """One (user, sync pair): the pre-built parts of its request (only the Idempotency-Key changes)."""
    prefix: bytes
    body: bytes
    authorization: str


def build_targets(stack: Stack, seed: int) -> list[Target]:
    host = urlsplit(str(stack.api_url)).netloc
    targets = []
    for user in stack.users:
        token = stack.minter.mint("firebase", user.user_id, ttl_s=6 * 3600)
        for pair in user.pairs:
            body = json.dumps({"sourceConnectionId": pair.source_connection_id,
                               "destinationConnectionId": pair.destination_connection_id,
                               "dataType": pair.data_type, "mode": "manual", "priority": "high"}).encode()
            prefix = (f"POST /v1/sync-jobs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n").encode()
            targets.append(Target(prefix, body, f"Bearer {token}"))
    random.Random(seed).shuffle(targets)  # neighbours in the round robin are unrelated users
    return targets


def request_bytes(target: Target) -> bytes:
    return target.prefix + f"Idempotency-Key: hp-{uuid.uuid4().hex}\r\n\r\n".encode() + target.body


@dataclass
class Offer:
    rate: float
    seconds: float
    answers: list[Answer] = field(default_factory=list)
    offered: list[float] = field(default_factory=list)   # due times (perf_counter) of the requests sent
    started: float = 0.0


async def offer_load(url: str, targets: list[Target], offer: Offer, offset: int, max_connections: int) -> None:
    """Send request i at started + i/rate (catching up at once when late), never waiting for answers."""
    pool = RawPool(url, max_connections)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int, due: float) -> None:
        target = (offset + index) % len(targets)
        status, body = await pool.request(request_bytes(targets[target]))
        now = time.perf_counter()
        job_id = None
        if status == 202:
            job_id = json.loads(body).get("jobId")
        offer.answers.append(Answer(now, (now - due) * 1000, status, job_id, target))

    offer.started = time.perf_counter()
    count = int(offer.rate * offer.seconds)
    for index in range(count):
        due = offer.started + index / offer.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        offer.offered.append(due)
        task = asyncio.create_task(one(index, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    pool.close()


# ---- what the stack did: worker counters, queue depth, CPU per process ---------------------------------------------
@dataclass
class Snapshot:
    at: float
    counters: dict[str, int]
    cpu: dict[str, float]
    queue_depth: int
    client_cpu: float


class Observer:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sqs = aws_clients.client("sqs", stack.aws_env)
        self.queue_url = self.sqs.get_queue_url(QueueName=HOT_QUEUE)["QueueUrl"]

    def queue_depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in attributes.values())

    def snapshot(self) -> Snapshot:
        return Snapshot(time.perf_counter(), worker_counters(self.stack),
                        {name: cpu_seconds(pid) for name, pid in self.stack.pids().items()}, self.queue_depth(),
                        time.process_time())


class ClockDriver:
    """Advances every fake's clock by ``speed`` fake seconds per real second, so new items keep appearing."""

    def __init__(self, stack: Stack, speed: float) -> None:
        self.urls = [f"{stack.fake_url(p)}/_fake/clock/advance" for p in PROVIDERS]
        self.speed = speed
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fake-clock", daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.wait(1.0):
                for url in self.urls:
                    client.post(url, json={"seconds": self.speed})

    def __enter__(self) -> "ClockDriver":
        if self.speed > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)


# ---- figures --------------------------------------------------------------------------------------------------
@dataclass
class Window:
    label: str
    seconds: float
    offered: int
    answers: list[Answer]
    before: Snapshot
    after: Snapshot
    accepted_total: int      # 202s since the run began (for the backlog)
    completed_total: int
    offer_seconds: float = 0.0   # total line: rates of offered/accepted over the offering period, not the tail
    unanswered: int = 0          # requests with no answer when the client stopped waiting (60 s after the last)

    @property
    def completed(self) -> int:
        return delta(self.before, self.after, "succeeded")

    @property
    def accepted(self) -> int:
        return sum(1 for a in self.answers if a.status == 202)

    @property
    def backlog(self) -> int:
        return self.accepted_total - self.completed_total

    def stack_cpu(self) -> dict[str, float]:
        return {name: self.after.cpu.get(name, 0.0) - self.before.cpu.get(name, 0.0) for name in self.after.cpu}

    def line(self) -> str:
        latencies = [a.latency_ms for a in self.answers]
        non2xx: Counter[int | str] = Counter(a.status for a in self.answers if not 200 <= a.status < 300)
        if self.unanswered:
            non2xx["unanswered"] = self.unanswered
        cpu = self.stack_cpu()
        total_cpu = sum(cpu.values())
        offer_s = self.offer_seconds or self.seconds
        return (f"{self.label:>9} {self.offered / offer_s:7.1f} {self.accepted / offer_s:7.1f} "
                f"{self.completed / self.seconds:7.1f} {percentile(latencies, 0.5):7.0f} "
                f"{percentile(latencies, 0.99):7.0f} {self.backlog:7d} {self.after.queue_depth:6d} "
                f"{1000 * total_cpu / max(self.completed, 1):7.1f} "
                f"{self.after.client_cpu - self.before.client_cpu:6.1f}  "
                f"{','.join(f'{k}:{v}' for k, v in sorted(non2xx.items())) or '-'}")


HEADER = (f"{'window':>9} {'offer/s':>7} {'202/s':>7} {'done/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'backlog':>7} "
          f"{'queue':>6} {'cpu ms/sync':>7} {'client cpu s':>6}  non-2xx")


def delta(before: Snapshot, after: Snapshot, counter: str) -> int:
    return after.counters.get(counter, 0) - before.counters.get(counter, 0)


@dataclass
class RunResult:
    rate: float
    total: Window
    windows: list[Window]
    p99_ms: float
    sustained: bool
    reason: str


def run_load(stack: Stack, observer: Observer, targets: list[Target], rate: float, seconds: float, offset: int,
             max_connections: int, verbose: bool) -> RunResult:
    """Offer ``rate`` for ``seconds``; print a line per 10 s window (sampled by a thread beside the client)."""
    offer = Offer(rate, seconds)
    first = observer.snapshot()
    snapshots = [first]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(max(0.0, first.at + WINDOW_S * len(snapshots) - time.perf_counter())):
            snapshots.append(observer.snapshot())
            if verbose:
                print(window_of(offer, snapshots, len(snapshots) - 1, first).line(), flush=True)

    sampler = threading.Thread(target=sample, name="sampler", daemon=True)
    if verbose:
        print(HEADER, flush=True)
    sampler.start()
    asyncio.run(offer_load(str(stack.api_url), targets, offer, offset, max_connections))
    done.set()
    sampler.join()
    last = observer.snapshot()
    snapshots.append(last)
    windows = [window_of(offer, snapshots, i, first) for i in range(1, len(snapshots))]
    total = Window("total", last.at - first.at, len(offer.offered), offer.answers, first, last,
                   sum(1 for a in offer.answers if a.status == 202), delta(first, last, "succeeded"),
                   offer_seconds=seconds, unanswered=len(offer.offered) - len(offer.answers))
    if verbose:
        print(total.line(), flush=True)
    p99 = percentile([a.latency_ms for a in offer.answers], 0.99)
    sustained, reason = verdict(total, windows, rate)
    return RunResult(rate, total, windows, p99, sustained, reason)


def window_of(offer: Offer, snapshots: list[Snapshot], index: int, first: Snapshot) -> Window:
    before, after = snapshots[index - 1], snapshots[index]
    answers = [a for a in list(offer.answers) if before.at <= a.done_at < after.at]
    offered = sum(1 for due in list(offer.offered) if before.at <= due < after.at)
    accepted_total = sum(1 for a in list(offer.answers) if a.status == 202 and a.done_at < after.at)
    label = f"{before.at - first.at:.0f}-{after.at - first.at:.0f}s"
    return Window(label, after.at - before.at, offered, answers, before, after, accepted_total,
                  delta(first, after, "succeeded"))


def verdict(total: Window, windows: list[Window], rate: float) -> tuple[bool, str]:
    """Sustained: (nearly) everything accepted, completions over the run >= 95% of the offered rate, and the
    backlog at the end bounded (<= 3 s of arrivals: jobs in flight, not a queue that grows with time)."""
    offered = max(total.offered, 1)
    problems = []
    if total.accepted < 0.99 * offered:
        problems.append(f"only {total.accepted}/{offered} accepted")
    if total.completed < 0.95 * offered:
        problems.append(f"completed {total.completed}/{offered}")
    if total.backlog > 3 * rate:
        problems.append(f"backlog {total.backlog} at the end (> 3 s of arrivals)")
    grows = [w.backlog for w in windows if w.seconds >= WINDOW_S / 2]
    if len(grows) >= 3 and grows[-1] > grows[len(grows) // 2] + rate:
        problems.append(f"backlog growing ({grows[len(grows) // 2]} -> {grows[-1]})")
    return not problems, "; ".join(problems) or "completions keep up, backlog bounded"


def drain(observer: Observer, accepted: int, baseline: int, timeout_s: float) -> float | None:
    """Seconds until the workers completed every accepted job (None: not within the timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        counters = worker_counters(observer.stack)
        if counters.get("succeeded", 0) + counters.get("dead_lettered", 0) - baseline >= accepted:
            return time.perf_counter() - started
        time.sleep(0.2)
    return None


def print_summary(stack: Stack, result: RunResult, drained: Snapshot, jobs: dict[str, str]) -> None:
    """CPU per sync over the load AND its drain (every accepted job's whole cost, whether or not it finished
    during the load: the figure to compare between runs and machines); ``jobs``: jobId -> its owner's
    Authorization header (to read a sample back)."""
    total = result.total
    cpu = {name: drained.cpu.get(name, 0.0) - total.before.cpu.get(name, 0.0) for name in drained.cpu}
    completed = max(delta(total.before, drained, "succeeded"), 1)
    ranked = sorted(cpu.items(), key=lambda kv: -kv[1])
    all_ms = 1000 * sum(cpu.values()) / completed
    print(f"CPU seconds by process (load + drain, {drained.at - total.before.at:.0f} s, {completed} syncs "
          f"SUCCEEDED): " + ", ".join(f"{name} {value:.1f}" for name, value in ranked if value >= 0.2))
    print(f"CPU ms per sync (comparable on a shared machine): all stack processes {all_ms:.1f}; " + ", ".join(
        f"{name} {1000 * value / completed:.1f}" for name, value in ranked if value >= 0.2))
    print(f"=> {os.cpu_count()} idle cores would carry ~{1000 * (os.cpu_count() or 1) / max(all_ms, 0.001):.0f} "
          f"syncs/s at this cost (the 100/s target needs <= {10 * (os.cpu_count() or 1):.0f} ms per sync)")
    client_cpu = total.after.client_cpu - total.before.client_cpu
    print(f"client (this process: driver, sampler, clock thread) CPU {client_cpu:.1f} s = "
          f"{1000 * client_cpu / max(total.offered, 1):.2f} ms per request (not the stack's)")
    written = delta(total.before, drained, "items_written")
    calls = delta(total.before, drained, "third_party_calls")
    processed = max(delta(total.before, drained, "processed"), 1)
    share = sampled_write_share(stack, jobs)
    print(f"mix: {written / processed:.2f} items written and {calls / processed:.2f} third-party calls per "
          f"processed job ({processed} processed, {written} items, {calls} calls)" + share)
    other = {k: delta(total.before, drained, k) for k in ("retried", "failed", "dead_lettered", "busy_locks",
                                                         "throttled_delays", "duplicates_dropped", "token_refreshes")}
    print("worker: " + ", ".join(f"{k} {v}" for k, v in other.items()))


def sampled_write_share(stack: Stack, jobs: dict[str, str]) -> str:
    """Share of a sample of the run's jobs that wrote something (GET /v1/sync-jobs/{id}: itemsWritten)."""
    sample = random.Random(7).sample(sorted(jobs), min(200, len(jobs)))
    wrote = finished = 0
    with httpx.Client(base_url=str(stack.api_url), timeout=10) as client:
        for job_id in sample:
            response = client.get(f"/v1/sync-jobs/{job_id}", headers={"Authorization": jobs[job_id]})
            if response.status_code == 200 and response.json().get("status") == "SUCCEEDED":
                finished += 1
                wrote += int((response.json().get("itemsWritten") or 0) > 0)
    return f"; {wrote}/{finished} sampled SUCCEEDED jobs wrote something ({100 * wrote / max(finished, 1):.0f}%)"


def clock_speed(write_share: float, users: int, rate: float) -> float:
    """Fake seconds per real second so that a user's next sync finds a new item with probability write_share."""
    if write_share <= 0:
        return 0.0
    between_syncs_s = users / rate
    fake_days = -math.log(1 - min(write_share, 0.95)) / NEW_ITEMS_PER_FAKE_DAY
    return fake_days * DAY_S / between_syncs_s


def warm_up(stack: Stack, observer: Observer, targets: list[Target], max_connections: int) -> None:
    """One sync per target (writes each user's short history) and wait until all are done: the steady state."""
    before = worker_counters(stack)
    offer = Offer(rate=200, seconds=len(targets) / 200)
    started = time.perf_counter()
    asyncio.run(offer_load(str(stack.api_url), targets, offer, 0, max_connections))
    accepted = sum(1 for a in offer.answers if a.status == 202)
    took = drain(observer, accepted, before.get("succeeded", 0) + before.get("dead_lettered", 0), 300)
    print(f"warm-up: {accepted}/{len(targets)} first syncs accepted, all done after "
          f"{time.perf_counter() - started:.1f} s" if took is not None else "warm-up: jobs still pending after 300 s",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench hotpath", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="offered POST /v1/sync-jobs per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--write-share", type=float, default=0.25,
                        help="wanted share of syncs that find a new item (sets the fakes' clock speed)")
    parser.add_argument("--concurrency", type=int, default=8, help="worker poller threads")
    parser.add_argument("--connections", type=int, default=256, help="client keep-alive connections at most")
    parser.add_argument("--find-max", action="store_true", help="step the rate and report the highest sustained")
    parser.add_argument("--steps", default="60,80,100,120,140", help="--find-max rates")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="--find-max seconds per rate")
    parser.add_argument("--no-warm-up", action="store_true", help="measure users' first syncs too")
    parser.add_argument("--pause", action="store_true", help="wait for Enter before the load (attach py-spy)")
    parser.add_argument("--direct", action="store_true",
                        help="no fault proxies / DNS names between the services and moto, Redis and the fakes")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.users <= 0:
        parser.error("--rate, --seconds and --users must be positive")
    try:
        steps = [float(s) for s in args.steps.split(",")] if args.find_max else [args.rate]
    except ValueError:
        parser.error(f"--steps must be comma-separated rates, not {args.steps!r}")

    t0 = time.perf_counter()
    appconfig = {"api": {"ip_limit": 100_000_000},
                 "token_buckets": {p: {"rate_per_s": 5000, "burst": 5000} for p in PROVIDERS}}
    # Access tokens live 10 fake years: the fast-forwarded fake clock would otherwise expire them (6-24 h) every
    # few real seconds, and every sync would refresh its tokens (a rare event in real use).
    fake_config = {"history_days": 1, "heavy_bytes": 20_000, "rate_limits": {"enabled": False},
                   "webhook_auto": False, "access_ttl": 10 * 365 * 86400}
    with Stack.start(users=args.users, worker_concurrency=args.concurrency, fake_config=fake_config,
                     appconfig=appconfig, deadline_s=180, fault_proxies=not args.direct,
                     dns_names=not args.direct) as stack:
        print(f"stack up in {time.perf_counter() - t0:.1f} s: {args.users} users, worker x {args.concurrency} "
              f"threads{', no fault proxies' if args.direct else ''}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
        observer = Observer(stack)
        targets = build_targets(stack, seed=1)
        if not args.no_warm_up:
            warm_up(stack, observer, targets, args.connections)
        print(f"pids (py-spy top --pid ...): {json.dumps(stack.pids())}", flush=True)
        if args.pause:
            input("press Enter to start the load ")
        results = []
        offset = 0
        for rate in steps:
            seconds = args.step_seconds if args.find_max else args.seconds
            speed = clock_speed(args.write_share, len(targets), rate)
            print(f"== offering {rate:.0f} syncs/s for {seconds:.0f} s over {len(targets)} sync pairs; fake clock x"
                  f"{speed:.0f} (write share aimed at {args.write_share:.0%}); load average "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
            with ClockDriver(stack, speed):
                result = run_load(stack, observer, targets, rate, seconds, offset, args.connections, True)
            offset += int(rate * seconds)
            results.append(result)
            baseline = result.total.before.counters
            took = drain(observer, result.total.accepted,
                         baseline.get("succeeded", 0) + baseline.get("dead_lettered", 0), 120)
            print(f"drained {'in %.1f s after the load' % took if took is not None else 'NOT within 120 s'}")
            if not args.find_max:
                print_summary(stack, result, observer.snapshot(), {a.job_id: targets[a.target].authorization
                                              for a in result.total.answers if a.job_id})
            print(f"VERDICT at {rate:.0f}/s: sustained {'yes' if result.sustained else 'no'} ({result.reason}); "
                  f"API p99 {result.p99_ms:.0f} ms < {P99_TARGET_MS:.0f} ms: "
                  f"{'yes' if result.p99_ms < P99_TARGET_MS else 'no'}; load average {os.getloadavg()[0]:.2f}",
                  flush=True)
            if args.find_max and not (result.sustained and result.p99_ms < P99_TARGET_MS):
                break
        if args.find_max:
            good = [r.rate for r in results if r.sustained and r.p99_ms < P99_TARGET_MS]
            print(f"highest sustained rate with p99 < {P99_TARGET_MS:.0f} ms: "
                  f"{max(good):.0f}/s" if good else "no step was sustained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
