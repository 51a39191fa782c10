"""``swsim chaos soak --rounds 100``: kill -9 a worker mid-batch, again and again; nothing lost, nothing twice.

Each round moves the fakes' clocks 3 hours on (the users record new workouts: 8 a day in the soak's fakes, so
every round's syncs have something to write), submits a burst of manual sync jobs through the API, waits until
the worker holds messages (SQS in-flight > 0), lets it work for a seeded random 0-400 ms, kills it with SIGKILL
and starts it again. The providers answer 100 ms slower (a fault on the fakes) so a batch spans the kill. At the end, once the queue has
drained, the ledger (every accepted job SUCCEEDED or in the DLQ with a reason) and the destination writes (each
payload once) are checked, and figures are printed and written to soak.json.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reports.recorder import LatencyRecorder
from sim.chaos import evidence as collect
from sim.chaos.clients import fake_control
from sim.chaos.invariants import ledger, no_duplicate_writes
from sim.chaos.runner import collect_evidence, has_dlq_consumer
from sim.chaos.observe import Clock, Observer
from sim.errors import CheckFailed

PROVIDERS = ("strava", "fitbit", "garmin")
SOAK_FAKE_CONFIG = {"activities_per_day": 8.0}  # new workouts every round: each round's syncs write something
ROUND_ADVANCE_S = 3 * 3600


@dataclass
class SoakFigures:
    rounds: int = 0
    kills: int = 0
    kills_mid_batch: int = 0          # in-flight > 0 at the moment of the kill
    accepted: int = 0
    succeeded: int = 0
    dead_lettered: int = 0
    lost: int = 0                     # neither SUCCEEDED nor in the DLQ with a reason ...
    in_dlq_without_reason: int = 0    # ... of which in the DLQ, job still QUEUED (no DLQ consumer recorded why)
    nowhere: int = 0                  # ... of which neither in the DLQ nor finished: really gone
    destination_writes: int = 0
    duplicate_writes: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)  # reason (first 80 chars) -> jobs
    drained: bool = False
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def add_soak_parser(actions: argparse._SubParsersAction) -> None:
    soak = actions.add_parser("soak", help="kill -9 a worker mid-batch N times; check nothing lost or doubled",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    soak.add_argument("--rounds", type=int, default=100, help="kills (default 100)")
    soak.add_argument("--jobs-per-round", type=int, default=8, help="manual syncs submitted per round (default 8)")
    soak.add_argument("--users", type=int, default=20, help="users the embedded stack seeds (default 20)")
    soak.add_argument("--seed", type=int, default=1, help="seed of the kill timing and job choice (default 1)")
    soak.add_argument("--out", type=Path, default=Path("runs/chaos/soak"), help="where soak.json goes")
    soak.set_defaults(func=soak_command)


def soak_command(args: argparse.Namespace) -> int:
    from sim.chaos.stackprep import start_stack

    print(f"starting the embedded stack ({args.users} users, 2 workers) ...", file=sys.stderr, flush=True)
    with start_stack(users=args.users, seed=args.seed, fake_config=SOAK_FAKE_CONFIG) as stack:
        figures = run_soak(stack, args.rounds, args.jobs_per_round, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(asdict(figures), indent=2))
    print(json.dumps(asdict(figures), indent=2))
    if figures.failures:
        raise CheckFailed("soak failed: " + "; ".join(figures.failures))
    return 0


def _submit(client: httpx.Client, stack: Any, rng: random.Random, count: int, tokens: dict[str, str],
            accepted: list[tuple[str, str]]) -> None:
    users = [u for u in stack.users if u.pairs]
    for _ in range(count):
        user = rng.choice(users)
        pair = rng.choice(user.pairs)
        body = {"sourceConnectionId": pair.source_connection_id,
                "destinationConnectionId": pair.destination_connection_id, "dataType": pair.data_type,
                "mode": "manual", "priority": "high"}
        headers = {"Authorization": f"Bearer {tokens[user.user_id]}",
                   "Idempotency-Key": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
        try:
            response = client.post("/v1/sync-jobs", json=body, headers=headers)
        except httpx.HTTPError:
            continue
        if response.status_code == 202:
            accepted.append((user.user_id, response.json()["jobId"]))


def run_soak(stack: Any, rounds: int, jobs_per_round: int, seed: int, advance_s: float = ROUND_ADVANCE_S) -> SoakFigures:
    from fake_providers.control import FakeControl

    rng = random.Random(seed)
    figures = SoakFigures()
    started = time.monotonic()
    started_epoch = time.time()
    fakes = {p: stack.fake_url(p) for p in PROVIDERS}
    writes_before = collect.write_counts(fakes)
    for url in fakes.values():  # slower providers: a batch is still running when the kill comes
        with FakeControl(url) as control:
            control.add_fault("soak-latency", "latency", attributes={"distribution": "fixed", "ms": 100})
    clock = Clock()
    clock.start_at(time.monotonic())
    observer = Observer(stack.aws_env, fakes, clock, interval_s=0.5)
    tokens = {u.user_id: stack.minter.mint("firebase", u.user_id, ttl_s=24 * 3600) for u in stack.users}
    accepted: list[tuple[str, str]] = []
    workers = list(stack.worker_names)
    with httpx.Client(base_url=stack.api_url, timeout=10) as client:
        for round_index in range(rounds):
            for url in fakes.values():
                fake_control(url).advance(advance_s)
            _submit(client, stack, rng, jobs_per_round, tokens, accepted)
            victim = workers[round_index % len(workers)]
            deadline = time.monotonic() + 10
            in_flight = 0
            while time.monotonic() < deadline:
                _, in_flight, _ = observer.depths()
                if in_flight > 0:
                    break
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.4))
            _, in_flight_at_kill, _ = observer.depths()
            stack.kill_process(victim)
            figures.kills += 1
            figures.kills_mid_batch += in_flight_at_kill > 0
            stack.restart_process(victim)
            figures.rounds += 1
            if (round_index + 1) % 10 == 0:
                print(f"[soak] {round_index + 1}/{rounds} kills, {len(accepted)} jobs accepted", file=sys.stderr,
                      flush=True)
    for url in fakes.values():
        with FakeControl(url) as control:
            control.delete_fault("soak-latency")
    figures.drained = observer.drain(180, dlq_consumer=has_dlq_consumer(stack))
    observer.stop()
    evidence = collect_evidence(stack, fakes, accepted, started_epoch, writes_before, series={},
                                recorder=LatencyRecorder(), faults=[], drained=figures.drained)
    books = ledger(evidence, {})
    writes = no_duplicate_writes(evidence, {})
    figures.accepted = len(accepted)
    figures.succeeded = int(books.figures.get("succeeded", 0))
    figures.dead_lettered = int(books.figures.get("dead_lettered", 0))
    figures.lost = int(books.figures.get("lost", 0))
    figures.in_dlq_without_reason = int(books.figures.get("in_dlq_without_reason", 0))
    figures.nowhere = int(books.figures.get("nowhere", 0))
    figures.destination_writes = int(writes.figures.get("writes", 0))
    figures.duplicate_writes = int(writes.figures.get("duplicated", 0))
    mine = {job_id for _, job_id in accepted}
    reasons = Counter(d.reason[:80] for d in evidence.dead_letters if d.job_id in mine)
    figures.dead_letter_reasons = dict(reasons.most_common(8))
    figures.seconds = round(time.monotonic() - started, 1)
    figures.failures = [r.detail for r in (books, writes) if not r.passed]
    return figures
