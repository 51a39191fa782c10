"""Benchmark of the SyncWell API process (issue 3). Prints figures; asserts nothing.

    python -m bench.bench_api [--seconds 8] [--concurrency 32] [--users 200]

Brings up moto (its own process), a real redis-server, the identity server and ONE API process, then drives
each endpoint class for a few seconds from an asyncio client with a fixed number of requests in flight
(closed loop: this measures capacity, not latency under an arrival rate):
  health        GET /health                      (the ASGI stack alone)
  auth-only     GET /v1/sync-jobs/not-a-job      (JWT authorizer + per-user/per-IP Redis limits, no AWS call)
  connections   GET /v1/connections              (+ one DynamoDB Query in the thread pool)
  sync-jobs     POST /v1/sync-jobs               (+ Query, TransactWriteItems, SendMessage)
It also times the authorizer in-process: a first (RSA-verifying) check and a cached one.
Figures: requests/s, p50/p99 latency in ms, and the API process's CPU seconds per 1,000 requests.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from stack.config import IssuerConfig
from tests.stack_api.harness import Backend, create_aws_resources, free_port, start_process, start_redis

RELAXED = {"api": {"user_rate_per_s": 100000, "user_burst": 100000, "ip_limit": 100000000, "ip_window_s": 300}}


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    popen = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=workdir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return popen, f"http://127.0.0.1:{port}"
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, make_request, seconds: float, concurrency: int) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def worker(index: int) -> None:
            nonlocal errors
            counter = 0
            while time.monotonic() < deadline:
                method, path, kwargs = make_request(index, counter)
                counter += 1
                started = time.perf_counter()
                response = await client.request(method, path, **kwargs)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 500 or response.status_code == 429:
                    errors += 1
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return len(latencies), latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def authorizer_microbench(backend: Backend, minter) -> None:
    from stack.api.authorizer import Authorizer

    async def run() -> None:
        issuers = tuple(IssuerConfig(**spec) for spec in backend.identity.ready["issuers"])
        authorizer = Authorizer(issuers)
        await authorizer.start()
        tokens = [f"Bearer {minter.mint('firebase', f'bench{i}')}" for i in range(300)]
        started = time.perf_counter()
        for token in tokens:
            await authorizer.authenticate(token)
        cold = (time.perf_counter() - started) / len(tokens) * 1e6
        started = time.perf_counter()
        for _ in range(10):
            for token in tokens:
                await authorizer.authenticate(token)
        warm = (time.perf_counter() - started) / (10 * len(tokens)) * 1e6
        await authorizer.close()
        print(f"authorizer: first verification {cold:.0f} us/token, cached {warm:.1f} us/token")

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    moto, moto_url = start_moto(workdir)
    redis_proc, redis_url = start_redis(workdir)
    identity = start_process(["-m", "stack.identity", "--keys-dir", str(workdir / "keys")], {},
                             workdir / "identity.stderr")
    backend = Backend(moto_url=moto_url, redis_url=redis_url, identity=identity, keys_dir=workdir / "keys",
                      workdir=workdir)
    api = None
    try:
        create_aws_resources(backend)
        from stack.identity import TokenMinter
        minter = TokenMinter(backend.keys_dir)
        users = [f"bench-{i:05d}" for i in range(args.users)]
        connections = {user: backend.add_user(user) for user in users}
        tokens = {user: {"Authorization": f"Bearer {minter.mint('firebase', user)}"} for user in users}
        api = backend.start_api("bench", RELAXED)
        authorizer_microbench(backend, minter)

        def pick(index: int, counter: int) -> str:
            return users[(index * 7919 + counter) % len(users)]

        scenarios = {
            "health": lambda i, c: ("GET", "/health", {}),
            "auth-only": lambda i, c: ("GET", "/v1/sync-jobs/not-a-job", {"headers": tokens[pick(i, c)]}),
            "connections": lambda i, c: ("GET", "/v1/connections", {"headers": tokens[pick(i, c)]}),
            "sync-jobs": lambda i, c: ("POST", "/v1/sync-jobs", {
                "headers": {**tokens[pick(i, c)], "Idempotency-Key": str(uuid.uuid4())},
                "json": {"sourceConnectionId": connections[pick(i, c)]["strava"],
                         "destinationConnectionId": connections[pick(i, c)]["fitbit"],
                         "dataType": "workout", "mode": "manual"}}),
        }
        print(f"{'scenario':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'API cpu s/1k req':>17}")
        for name, make in scenarios.items():
            cpu_before = cpu_seconds(api.popen.pid)
            count, latencies, errors = asyncio.run(drive(api.url, make, args.seconds, args.concurrency))
            cpu = cpu_seconds(api.popen.pid) - cpu_before
            print(f"{name:<12} {count / args.seconds:>8.0f} {percentile(latencies, 0.5):>8.1f} "
                  f"{percentile(latencies, 0.99):>8.1f} {errors:>7} {cpu / max(count, 1) * 1000:>17.2f}")
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; concurrency {args.concurrency})")
    finally:
        if api:
            api.stop()
        identity.stop()
        redis_proc.terminate()
        moto.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
