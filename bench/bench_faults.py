"""Benchmark of the fault proxies: the latency each adds per call, against the same server direct.

    python bench/bench_faults.py [--calls 2000] [--rules 5]

- AWS chaos proxy: DynamoDB GetItem over one kept-alive HTTP connection (raw http.client, so the client's own
  cost is tiny), direct to moto vs through the proxy, interleaved call by call so machine load hits both alike;
  then the same with ``--rules`` non-matching chaos rules installed (the evaluation cost of rules), and with
  boto3 (what the services see). Target: overhead <= 1 ms at p50.
- Redis fault proxy: PING direct vs through the proxy.
Prints one line per measurement and a JSON summary. Everything runs on loopback and stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from typing import Callable

import boto3
import httpx
import numpy as np
import redis
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.faults.procs import Child  # noqa: E402

AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, "
        "Signature=0")


def ddb_call(url: str) -> Callable[[], None]:
    host, port = url.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    body = json.dumps({"TableName": "Bench", "Key": {"pk": {"S": "k"}}}).encode()
    headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": AUTH}

    def call() -> None:
        conn.request("POST", "/", body, headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status

    return call


def interleaved(a: Callable[[], None], b: Callable[[], None], calls: int) -> tuple[np.ndarray, np.ndarray]:
    ta, tb = np.empty(calls), np.empty(calls)
    for i in range(calls):
        for fn, out in ((a, ta), (b, tb)) if i % 2 else ((b, tb), (a, ta)):
            started = time.perf_counter()
            fn()
            out[i] = time.perf_counter() - started
    return ta * 1000, tb * 1000


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc), to give a per-call cost that load does not skew."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run: Callable[[], tuple[np.ndarray, np.ndarray]], calls: int,
             label: str) -> dict[str, float]:
    before = cpu_s(pid)
    direct, proxied = run()
    figures = report(label, direct, proxied)
    figures["proxy_cpu_us_per_call"] = round((cpu_s(pid) - before) / calls * 1e6, 1)
    print(f"{'':<34} proxy CPU per call {figures['proxy_cpu_us_per_call']:.1f} us", flush=True)
    return figures


def report(label: str, direct: np.ndarray, proxied: np.ndarray) -> dict[str, float]:
    p50d, p99d = np.percentile(direct, [50, 99])
    p50p, p99p = np.percentile(proxied, [50, 99])
    diff = proxied - direct
    figures = {"direct_p50_ms": round(p50d, 3), "direct_p99_ms": round(p99d, 3), "proxied_p50_ms": round(p50p, 3),
               "proxied_p99_ms": round(p99p, 3), "overhead_p50_ms": round(float(np.percentile(diff, 50)), 3),
               "overhead_p99_ms": round(float(np.percentile(diff, 99)), 3)}
    print(f"{label:<34} direct p50 {p50d:7.3f} p99 {p99d:7.3f} | proxied p50 {p50p:7.3f} p99 {p99p:7.3f} | "
          f"overhead p50 {figures['overhead_p50_ms']:.3f} p99 {figures['overhead_p99_ms']:.3f} ms", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=5)
    args = parser.parse_args()
    summary: dict[str, object] = {"calls": args.calls, "load_avg": os.getloadavg()[0], "cpus": os.cpu_count()}
    moto = Child(["-m", "stack.launcher.moto_service", "--service", "dynamodb", "--port", "0"])
    redis_server = Child(["-m", "stack.launcher.fake_redis_service", "--port", "0"])
    proxy = Child(["-m", "stack.faults.aws_proxy", "--upstream", f"dynamodb={moto.url}"])
    rproxy = Child(["-m", "stack.faults.redis_proxy", "--upstream", redis_server.url])
    try:
        ddb = boto3.client("dynamodb", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x")
        ddb.create_table(TableName="Bench", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="Bench", Item={"pk": {"S": "k"}, "v": {"S": "x" * 200}})
        listener = str(proxy.ready["listeners"]["dynamodb"])
        direct, proxied = ddb_call(moto.url), ddb_call(listener)
        for _ in range(100):
            direct(), proxied()
        ppid = proxy.proc.pid
        summary["aws_raw"] = measured(ppid, lambda: interleaved(direct, proxied, args.calls), args.calls,
                                      "aws proxy, GetItem (raw HTTP)")
        rules = [{"service": "sqs", "operation": f"Op{i}", "probability": 0.5} for i in range(args.rules)]
        httpx.post(proxy.url + "/_localstack/chaos/faults", json=rules).raise_for_status()
        summary["aws_raw_with_rules"] = measured(ppid, lambda: interleaved(direct, proxied, args.calls), args.calls,
                                                 f"aws proxy, GetItem, {args.rules} rules")
        httpx.post(proxy.url + "/_localstack/chaos/faults", json=[]).raise_for_status()
        config = Config(retries={"mode": "standard", "max_attempts": 0})
        b_direct = boto3.client("dynamodb", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="x",
                                aws_secret_access_key="x", config=config)
        b_proxied = boto3.client("dynamodb", endpoint_url=listener, region_name="us-east-1",
                                 aws_access_key_id="x", aws_secret_access_key="x", config=config)
        key = {"pk": {"S": "k"}}
        summary["aws_boto3"] = report("aws proxy, GetItem (boto3)", *interleaved(
            lambda: b_direct.get_item(TableName="Bench", Key=key),
            lambda: b_proxied.get_item(TableName="Bench", Key=key), max(200, args.calls // 4)))
        r_direct, r_proxied = redis.Redis.from_url(redis_server.url), redis.Redis.from_url(rproxy.url)
        r_direct.ping(), r_proxied.ping()
        summary["redis"] = measured(rproxy.proc.pid, lambda: interleaved(r_direct.ping, r_proxied.ping, args.calls),
                                    args.calls, "redis proxy, PING")
    finally:
        for child in (rproxy, proxy, redis_server, moto):
            child.stop()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
