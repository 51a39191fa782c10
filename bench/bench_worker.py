"""Benchmark of the hot-path worker through the embedded stack (issue 3 target: >= 100 syncs/s end to end on 2 cores).

    python bench/bench_worker.py [--users 300] [--concurrency 8] [--workers 1] [--history-days 1]

Brings the whole stack up (moto per service, Redis, the fakes, the services), then for each round sends one job
per seeded user's sync pair straight to HotPathSyncQueue (SendMessageBatch, as fast as possible) and times until
the worker's health counters say every job was processed. Round 1 ("first sync") writes each user's history to
the destination (metadata list, destination list, heavy payload and a write per item); round 2 ("nothing new")
is the common case the design optimises for: list, find nothing, no state write beyond the job/lock items.
Prints syncs/s, third-party calls, the CPU seconds each process used, and CPU ms per sync (the worker's, and all
processes' together: the 2-core budget for 100 syncs/s is 20 ms). Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack import aws_clients  # noqa: E402
from stack.launcher import Stack  # noqa: E402


def cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def worker_counters(stack: Stack) -> dict[str, int]:
    total: dict[str, int] = {}
    for name in stack.worker_names:
        url = stack.health_url(name)
        body = httpx.get(str(url), timeout=10).json()
        for key, value in body.items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total


def run_round(stack: Stack, sqs, queue_url: str, label: str, timeout_s: float) -> dict:
    jobs = []
    for user in stack.users:
        for pair in user.pairs:
            jobs.append({"jobId": f"job_{uuid.uuid4()}", "userId": user.user_id,
                         "sourceConnectionId": pair.source_connection_id,
                         "destinationConnectionId": pair.destination_connection_id, "dataType": pair.data_type,
                         "mode": "manual", "priority": "high", "idempotencyKey": str(uuid.uuid4()),
                         "correlationId": uuid.uuid4().hex, "requestedAt": time.time(), "origin": "manual"})
    before = worker_counters(stack)
    cpu_before = {name: cpu_seconds(pid) for name, pid in stack.pids().items()}
    started = time.perf_counter()
    for start in range(0, len(jobs), 10):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(job), "MessageAttributes": {
                "correlationId": {"DataType": "String", "StringValue": job["correlationId"]}}}
            for i, job in enumerate(jobs[start:start + 10])])
    enqueued_s = time.perf_counter() - started
    done = 0
    while time.perf_counter() - started < timeout_s:
        now = worker_counters(stack)
        done = (now.get("processed", 0) - before.get("processed", 0)) + (now.get("dead_lettered", 0) - before.get("dead_lettered", 0))
        if done >= len(jobs):
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    after = worker_counters(stack)
    cpu = {name: round(cpu_seconds(pid) - cpu_before.get(name, 0.0), 1) for name, pid in stack.pids().items()}
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {"round": label, "jobs": len(jobs), "completed": done, "elapsed_s": round(elapsed, 2),
            "enqueue_s": round(enqueued_s, 2), "syncs_per_s": round(done / elapsed, 1),
            "items_written": delta.get("items_written", 0), "third_party_calls": delta.get("third_party_calls", 0),
            "throttled_delays": delta.get("throttled_delays", 0), "retried": delta.get("retried", 0),
            "busy_locks": delta.get("busy_locks", 0),
            "worker_cpu_ms_per_sync": round(1000 * sum(v for k, v in cpu.items() if k.startswith("worker"))
                                            / max(done, 1), 1),
            "cpu_ms_per_sync_all": round(1000 * sum(cpu.values()) / max(done, 1), 1),
            "cpu_s": {k: v for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= 0.5}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8, help="poller threads per worker process")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--history-days", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--direct", action="store_true",
                        help="no fault proxies / DNS names between the services and moto, Redis and the fakes")
    args = parser.parse_args()
    t0 = time.perf_counter()
    appconfig = {"token_buckets": {p: {"rate_per_s": 5000, "burst": 5000} for p in ("strava", "fitbit", "garmin")}}
    with Stack.start(users=args.users, worker_concurrency=args.concurrency, workers=args.workers,
                     fake_config={"history_days": args.history_days, "heavy_bytes": 20_000,
                                  "rate_limits": {"enabled": False}},  # the worker, not the fakes, is measured
                     appconfig=appconfig, deadline_s=180, fault_proxies=not args.direct,
                     dns_names=not args.direct) as stack:
        print(f"stack up in {time.perf_counter() - t0:.1f}s with {args.users} users, "
              f"{args.workers} worker process(es) x {args.concurrency} threads", flush=True)
        sqs = aws_clients.client("sqs", stack.aws_env)
        queue_url = sqs.get_queue_url(QueueName="HotPathSyncQueue")["QueueUrl"]
        for label in ("first sync", "nothing new"):
            print(json.dumps(run_round(stack, sqs, queue_url, label, args.timeout)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
