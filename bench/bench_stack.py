"""Benchmarks of the embedded stack's AWS emulation (issue 3). Prints figures; asserts nothing.

    python -m bench.bench_stack                 # everything (about 2-3 minutes on 2 busy cores)
    python -m bench.bench_stack sqs-depth       # ReceiveMessage(10) cost vs backlog, stock moto vs indexed
    python -m bench.bench_stack call-rate       # raw calls/s per moto service process, threaded vs gevent
    python -m bench.bench_stack startup         # swsim up time to ready (Stack.start), 3 runs

sqs-depth: a queue is filled to each depth with SendMessageBatch, then ReceiveMessage(10) (visibility 0, so the
depth stays exactly the same) is timed 20 times over HTTP; the target is p50 at 10,000 <= 2 x p50 at 10. Stock moto is
measured up to --stock-max-depth (default 3,000: filling it deeper takes minutes since every send scans too).
call-rate: 1 and N client threads send pre-built requests over keep-alive connections (httpx, so the client's own
cost stays small) for a few seconds: SQS SendMessage, DynamoDB PutItem+GetItem, Secrets Manager GetSecretValue.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import sys
from pathlib import Path
from typing import Callable

# Run as a script (``python -m bench stack`` execs bench/bench_stack.py), sys.path[0] is bench/: put this
# checkout first so ``stack`` is the code next to this file even when the editable install points elsewhere.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from stack import aws_clients  # noqa: E402
from stack.launcher import Stack  # noqa: E402

DEPTHS = (10, 1_000, 3_000, 10_000)
RECEIVES_PER_DEPTH = 20


@dataclass
class DepthResult:
    variant: str
    depth: int
    receive_p50_ms: float
    receive_p90_ms: float
    send_batch_ms: float


def fill(sqs, url: str, to_depth: int, current: int) -> float:
    """Send batches of 10 until the queue holds ``to_depth`` messages; returns ms per SendMessageBatch."""
    batches = -(-(to_depth - current) // 10)
    if batches <= 0:
        return 0.0
    body = json.dumps({"jobId": "job_x", "userId": "user-000001", "padding": "x" * 300})

    def send(i: int) -> float:
        t0 = time.perf_counter()
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": body} for k in range(10)])
        return time.perf_counter() - t0

    with ThreadPoolExecutor(4) as pool:
        costs = list(pool.map(send, range(batches)))
    return statistics.median(costs) * 1000


def time_receives(sqs, url: str, n: int) -> list[float]:
    costs = []
    for _ in range(n):
        t0 = time.perf_counter()
        # VisibilityTimeout=0: the received messages stay visible, so the depth stays exactly the same
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0)
        costs.append((time.perf_counter() - t0) * 1000)
        assert len(got.get("Messages", [])) == 10, "the queue ran dry during the benchmark"
    return costs


def bench_sqs_depth(stock_max_depth: int) -> list[DepthResult]:
    results = []
    for variant in ("stock", "indexed"):
        with Stack.start(users=0, services={"moto-sqs"}, sqs_speedup=variant == "indexed") as stack:
            sqs = aws_clients.client("sqs", stack.aws_env)
            url = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
            depth = 0
            for target in DEPTHS:
                if variant == "stock" and target > stock_max_depth:
                    break
                send_ms = fill(sqs, url, target, depth)
                depth = target
                costs = time_receives(sqs, url, RECEIVES_PER_DEPTH)
                costs.sort()
                result = DepthResult(variant, target, statistics.median(costs), costs[int(len(costs) * 0.9) - 1],
                                     send_ms)
                results.append(result)
                print(f"  {variant:8s} depth {target:>6,}: ReceiveMessage(10) p50 {result.receive_p50_ms:8.1f} ms "
                      f"p90 {result.receive_p90_ms:8.1f} ms   SendMessageBatch(10) p50 {send_ms:7.1f} ms", flush=True)
    return results


# ---- raw call rate -----------------------------------------------------------------------------------------------
def json_call(target: str, body: dict, content_type: str = "application/x-amz-json-1.0") -> tuple[dict, bytes]:
    headers = {"X-Amz-Target": target, "Content-Type": content_type,
               "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/x/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    return headers, json.dumps(body).encode()


def measure_rate(url: str, calls: list[tuple[dict, bytes]], threads: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    done = [0] * threads

    def loop(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            k = 0
            while time.monotonic() < stop:
                headers, body = calls[k % len(calls)]
                response = client.post("/", headers=headers, content=body)
                response.raise_for_status()
                k += 1
            done[i] = k

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.monotonic() - started)


def service_calls(stack: Stack) -> dict[str, tuple[str, list[tuple[dict, bytes]]]]:
    env = stack.aws_env
    sqs = aws_clients.client("sqs", env)
    queue = sqs.create_queue(QueueName="rate")["QueueUrl"]
    ddb = aws_clients.client("dynamodb", env)
    ddb.create_table(TableName="rate", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
    secrets = aws_clients.client("secretsmanager", env)
    secrets.create_secret(Name="rate", SecretString="{}")
    item = {"PK": {"S": "USER#1"}, "v": {"N": "1"}, "payload": {"S": "x" * 200}}
    return {
        "sqs SendMessage": (stack.endpoints["moto-sqs"], [json_call(
            "AmazonSQS.SendMessage", {"QueueUrl": queue, "MessageBody": "x" * 300})]),
        "dynamodb PutItem+GetItem": (stack.endpoints["moto-dynamodb"], [
            json_call("DynamoDB_20120810.PutItem", {"TableName": "rate", "Item": item}),
            json_call("DynamoDB_20120810.GetItem", {"TableName": "rate", "Key": {"PK": {"S": "USER#1"}}})]),
        "secretsmanager GetSecretValue": (stack.endpoints["moto-secretsmanager"], [json_call(
            "secretsmanager.GetSecretValue", {"SecretId": "rate"}, "application/x-amz-json-1.1")]),
    }


def bench_call_rate(threads: int, seconds: float) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for server in ("threaded", "gevent"):
        with Stack.start(users=0, services={"moto-sqs", "moto-dynamodb", "moto-secretsmanager"},
                         moto_server=server, zygote=False) as stack:
            for name, (url, calls) in service_calls(stack).items():
                measure_rate(url, calls, 2, 0.5)  # warm up
                for clients in sorted({1, threads}):
                    rate = measure_rate(url, calls, clients, seconds)
                    figures.setdefault(name, {})[f"{server}/{clients}"] = rate
                    print(f"  {server:8s} {name:32s} {rate:7.0f} calls/s ({clients} client threads)", flush=True)
    return figures


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU time the given processes have used so far (Linux /proc), a load-independent cost."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def bench_startup(runs: int, users: int) -> list[float]:
    times = []
    for _ in range(runs):
        own_before = time.process_time()
        t0 = time.monotonic()
        with Stack.start(users=users) as stack:
            times.append(time.monotonic() - t0)
            t = stack.timings
            children = cpu_seconds([pid for pid in stack.pids().values() if pid]) + t.provision_cpu_s
            own = time.process_time() - own_before
            print(f"  ready in {times[-1]:.2f} s (infra {t.infra_s:.2f}, bootstrap {t.bootstrap_s:.2f}, "
                  f"services {t.app_s:.2f}, seed {t.seed_s:.2f}); CPU used: children {children:.1f} s + "
                  f"launcher {own:.1f} s; {len(stack.processes)} processes; load {os.getloadavg()[0]:.1f}",
                  flush=True)
    return times


BENCHES: dict[str, Callable[[argparse.Namespace], object]] = {
    "sqs-depth": lambda a: bench_sqs_depth(a.stock_max_depth),
    "call-rate": lambda a: bench_call_rate(a.threads, a.seconds),
    "startup": lambda a: bench_startup(a.runs, a.users),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # No ``choices`` here: argparse checks a list default against them as one value and refuses it (3.11).
    parser.add_argument("which", nargs="*", metavar="BENCH", help=f"one or more of {', '.join(BENCHES)} "
                        "(default: all)")
    parser.add_argument("--stock-max-depth", type=int, default=3_000)
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients (also measured with 1)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args(argv)
    unknown = [name for name in args.which if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    for name in args.which or list(BENCHES):
        print(f"== {name}", flush=True)
        BENCHES[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
