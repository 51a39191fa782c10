"""Served moto DynamoDB, stock vs stack.dynamodb_speedup: latency and server CPU per call for the stack's call mix.

    python bench/bench_dynamodb.py [--users 300] [--jobs 300] [--idem-items 3000] [--only stock|speedup]

For each variant it starts ``python -m stack.launcher.moto_service --service dynamodb`` (port 0), creates the
SyncWellMetadata table (bootstrap's definition, both GSIs), seeds ``--users`` users (profile, two connections, a
sync config on the scheduler GSI) plus ``--idem-items`` COMPLETED idempotency items (what a running stack
accumulates), then runs each operation of the worker's per-job mix (001 §3a hot path) in its own phase, from
``--threads`` client threads, as the worker issues it:

- ``put_idem``: conditional PutItem of ``IDEM##key`` (attribute_not_exists OR ttl OR expired lease, ALL_OLD);
- ``update_lock``: conditional UpdateItem SET of ``LOCK#SYNCCONFIG`` (same condition OR status = RETRY);
- ``batch_get``: BatchGetItem of a batch's state, 50 keys (10 jobs x 5 keys, ConsistentRead);
- ``batch_write``: BatchWriteItem of 25 (COMPLETED idempotency items, config lock deletes, job items);
- ``query_user``: Query of one user's partition (the API), ``query_gsi``: Query of one scheduler shard (the
  scheduler, with a filter and pagination).

Prints per operation: client-side mean latency (ms) and the served process's CPU per call (ms, from /proc), stock
vs speedup. Server CPU per call is the figure that limits the stack on 2 cores. Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack.bootstrap import table_definition  # noqa: E402
from stack.readiness import parse_ready_line  # noqa: E402

TABLE = "SyncWellMetadata"
CONDITION = "attribute_not_exists(PK) OR #ttl < :now OR (#s = :inprogress AND leaseUntil < :now)"


class Server:
    """One served moto DynamoDB process (stock or with the speedup)."""

    def __init__(self, speedup: bool) -> None:
        argv = [sys.executable, "-m", "stack.launcher.moto_service", "--service", "dynamodb", "--port", "0"]
        if not speedup:
            argv.append("--no-dynamodb-speedup")
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                        cwd=Path(__file__).resolve().parent.parent)
        info = None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            info = parse_ready_line(line.strip())
            if info:
                break
        if not info:
            raise RuntimeError("moto dynamodb did not announce readiness")
        self.url: str = info["url"]

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def client(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(max_pool_connections=32, retries={"max_attempts": 0}))


def seed(ddb: Any, users: int, idem_items: int) -> list[str]:
    now = int(time.time())
    items: list[dict[str, Any]] = []
    user_ids = [f"u{n:05d}" for n in range(users)]
    for n, uid in enumerate(user_ids):
        pk = {"S": f"USER#{uid}"}
        items.append({"PK": pk, "SK": {"S": "PROFILE"}, "tier": {"S": "PRO"}, "version": {"N": "1"}})
        for conn, provider in (("src", "strava"), ("dst", "fitbit")):
            items.append({"PK": pk, "SK": {"S": f"CONN#{uid}-{conn}"}, "provider": {"S": provider},
                          "status": {"S": "active"}, "version": {"N": "1"}})
        items.append({"PK": pk, "SK": {"S": f"SYNCCONFIG#{uid}-src##workout"}, "cursor": {"N": "0"},
                      "SyncTierShardId": {"S": f"PRO#{n % 16}"}, "NextSyncTimestamp": {"N": str(now + n)},
                      "enabled": {"BOOL": True}, "version": {"N": "1"}})
    for n in range(idem_items):
        key = f"IDEM##seed-{n}"
        items.append({"PK": {"S": key}, "SK": {"S": key}, "status": {"S": "COMPLETED"}, "jobId": {"S": f"j{n}"},
                      "ttl": {"N": str(now + 86400)}})
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
    return user_ids


def put_idem(ddb: Any, uid: str) -> None:
    now = int(time.time())
    key = f"IDEM##{uuid.uuid4()}"
    ddb.put_item(TableName=TABLE, Item={"PK": {"S": key}, "SK": {"S": key}, "status": {"S": "INPROGRESS"},
                                        "owner": {"S": "bench"}, "jobId": {"S": "j"},
                                        "leaseUntil": {"N": str(now + 60)}, "ttl": {"N": str(now + 86400)}},
                 ConditionExpression=CONDITION, ExpressionAttributeNames={"#ttl": "ttl", "#s": "status"},
                 ExpressionAttributeValues={":now": {"N": str(now)}, ":inprogress": {"S": "INPROGRESS"}},
                 ReturnValuesOnConditionCheckFailure="ALL_OLD")


def update_lock(ddb: Any, uid: str) -> None:
    now = int(time.time())
    ddb.update_item(
        TableName=TABLE, Key={"PK": {"S": f"USER#{uid}"}, "SK": {"S": f"LOCK#SYNCCONFIG#{uid}-src##workout"}},
        UpdateExpression="SET #s = :inprogress, #o = :owner, jobId = :job, leaseUntil = :lease, #ttl = :ttl",
        ConditionExpression=CONDITION + " OR #s = :retry",
        ExpressionAttributeNames={"#ttl": "ttl", "#s": "status", "#o": "owner"},
        ExpressionAttributeValues={":now": {"N": str(now)}, ":inprogress": {"S": "INPROGRESS"},
                                   ":retry": {"S": "RETRY"}, ":owner": {"S": "bench"}, ":job": {"S": "j"},
                                   ":lease": {"N": str(now - 60)}, ":ttl": {"N": str(now + 86400)}})


def batch_get(ddb: Any, uids: list[str]) -> None:
    keys = []
    for uid in uids:
        pk = f"USER#{uid}"
        for sk in (f"CONN#{uid}-src", f"CONN#{uid}-dst", f"SYNCCONFIG#{uid}-src##workout", f"JOB#{uuid.uuid4()}",
                   f"LOCK#SYNCCONFIG#{uid}-src##workout"):
            keys.append({"PK": {"S": pk}, "SK": {"S": sk}})
    ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})


def batch_write(ddb: Any, uids: list[str]) -> None:
    now = int(time.time())
    requests: list[dict[str, Any]] = []
    for uid in uids[:8]:
        key = f"IDEM##{uuid.uuid4()}"
        requests.append({"PutRequest": {"Item": {"PK": {"S": key}, "SK": {"S": key}, "status": {"S": "COMPLETED"},
                                                 "jobId": {"S": "j"}, "ttl": {"N": str(now + 86400)}}}})
        requests.append({"DeleteRequest": {"Key": {"PK": {"S": f"USER#{uid}"},
                                                   "SK": {"S": f"LOCK#SYNCCONFIG#{uid}-src##workout"}}}})
        requests.append({"PutRequest": {"Item": {"PK": {"S": f"USER#{uid}"}, "SK": {"S": f"JOB#{uuid.uuid4()}"},
                                                 "status": {"S": "SUCCEEDED"}, "updatedAt": {"N": str(now)},
                                                 "itemsWritten": {"N": "0"}}}})
    ddb.batch_write_item(RequestItems={TABLE: requests[:25]})


def query_user(ddb: Any, uid: str) -> None:
    ddb.query(TableName=TABLE, KeyConditionExpression="PK = :pk AND begins_with(SK, :conn)",
              ExpressionAttributeValues={":pk": {"S": f"USER#{uid}"}, ":conn": {"S": "CONN#"}})


def query_gsi(ddb: Any, uid: str) -> None:
    shard = f"PRO#{int(uid[1:]) % 16}"
    kwargs: dict[str, Any] = {
        "TableName": TABLE, "IndexName": "SyncTierShardId-NextSyncTimestamp-gsi",
        "KeyConditionExpression": "SyncTierShardId = :shard AND NextSyncTimestamp <= :due",
        "FilterExpression": "enabled = :yes", "Limit": 10,
        "ExpressionAttributeValues": {":shard": {"S": shard}, ":due": {"N": str(int(time.time()) + 10**6)},
                                      ":yes": {"BOOL": True}}}
    for _ in range(2):  # two pages
        page = ddb.query(**kwargs)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_phase(server: Server, ddb: Any, name: str, call: Callable[[], None], calls: int,
              threads: int) -> dict[str, Any]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        started = time.perf_counter()
        call()
        with lock:
            latencies.append(time.perf_counter() - started)

    cpu0, wall0 = server.cpu_s(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(calls)))
    cpu, wall = server.cpu_s() - cpu0, time.perf_counter() - wall0
    return {"op": name, "calls": calls, "mean_ms": round(1000 * sum(latencies) / len(latencies), 2),
            "server_cpu_ms_per_call": round(1000 * cpu / calls, 2), "calls_per_s": round(calls / wall, 1)}


def run_variant(speedup: bool, args: argparse.Namespace) -> list[dict[str, Any]]:
    server = Server(speedup)
    try:
        ddb = client(server.url)
        ddb.create_table(**table_definition(TABLE))
        uids = seed(ddb, args.users, args.idem_items)
        counter = iter(range(10**9))

        def uid() -> str:
            return uids[next(counter) % len(uids)]

        def ten() -> list[str]:
            return [uid() for _ in range(10)]

        phases: list[tuple[str, Callable[[], None], int]] = [
            ("put_idem", lambda: put_idem(ddb, uid()), args.jobs),
            ("update_lock", lambda: update_lock(ddb, uid()), args.jobs),
            ("batch_get", lambda: batch_get(ddb, ten()), max(1, args.jobs // 10)),
            ("batch_write", lambda: batch_write(ddb, ten()), max(1, args.jobs // 10)),
            ("query_user", lambda: query_user(ddb, uid()), max(1, args.jobs // 3)),
            ("query_gsi", lambda: query_gsi(ddb, uid()), max(1, args.jobs // 10)),
        ]
        for name, call, calls in phases:  # warm-up: first-call imports and caches are not what is measured
            for _ in range(3):
                call()
        return [run_phase(server, ddb, name, call, calls, args.threads) for name, call, calls in phases]
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=300, help="per-job calls in each per-job phase")
    parser.add_argument("--idem-items", type=int, default=3000, help="COMPLETED idempotency items seeded")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--only", choices=("stock", "speedup"), default=None)
    args = parser.parse_args()
    variants = [v for v in ("stock", "speedup") if args.only in (None, v)]
    results = {variant: run_variant(variant == "speedup", args) for variant in variants}
    for variant, rows in results.items():
        for row in rows:
            print(json.dumps({"variant": variant, **row}), flush=True)
    if len(results) == 2:
        print(f"{'op':<12} {'stock cpu ms':>13} {'speedup cpu ms':>15} {'stock lat ms':>13} {'speedup lat ms':>15}")
        for stock, fast in zip(results["stock"], results["speedup"]):
            print(f"{stock['op']:<12} {stock['server_cpu_ms_per_call']:>13} {fast['server_cpu_ms_per_call']:>15} "
                  f"{stock['mean_ms']:>13} {fast['mean_ms']:>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
