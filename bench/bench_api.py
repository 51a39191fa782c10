"""Benchmark of the SyncWell API process (issue 3). Prints figures; asserts nothing.

    python -m bench.bench_api [--seconds 8] [--concurrency 32] [--users 200]

Brings up moto (its own process), a real redis-server, the identity server and ONE API process, then drives
each endpoint class for a few seconds with a fixed number of requests in flight (closed loop: this measures
capacity, not latency under an arrival rate). The client is wrk when installed (a Python asyncio client costs
more CPU per request than the API itself and would measure itself), else an httpx asyncio client:
  health        GET /health                      (the ASGI stack alone)
  auth-only     GET /v1/sync-jobs/not-a-job      (JWT authorizer + per-user/per-IP Redis limits, no AWS call)
  connections   GET /v1/connections, every user in turn (a DynamoDB Query, or the config## Redis cache)
  sync-jobs     POST /v1/sync-jobs               (+ connections, conditional PutItem x2, SendMessage)
  job-poll      GET /v1/sync-jobs/{id}, one QUEUED job per user (a GetItem: unfinished jobs are never cached)
It also times the authorizer in-process: a first (RSA-verifying) check and a cached one.
Figures: requests/s, p50/p99 latency in ms, non-2xx answers (auth-only is 404 by design), and the API
process's CPU milliseconds per request.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

# Run as a script (``python -m bench api`` execs this file), sys.path[0] is bench/: put this checkout first so
# ``stack`` and ``tests`` are the code next to this file even when the editable install points elsewhere.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from stack.config import IssuerConfig  # noqa: E402
from tests.stack_api.harness import Backend, create_aws_resources, free_port, start_process, start_redis  # noqa: E402

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


def start_moto_services(workdir: Path) -> tuple[list, dict[str, str]]:
    """One moto process per service (the embedded stack's layout) via the launcher's entry point when present."""
    try:
        import stack.launcher.moto_service  # noqa: F401
    except ImportError:
        return [], {}
    procs, urls = [], {}
    for service in ("dynamodb", "sqs", "secretsmanager", "s3", "events"):
        proc = start_process(["-m", "stack.launcher.moto_service", "--service", service], {},
                             workdir / f"moto-{service}.stderr")
        procs.append(proc)
        urls[service] = proc.url
    return procs, urls


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


WRK_POST_SCRIPT = """
counter = 0
math.randomseed(os.time())
local prefix = tostring(math.random(1, 1000000000))
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "bench-" .. prefix .. "-" .. counter
  return wrk.format("POST", "/v1/sync-jobs", nil, wrk.body)
end
"""


@dataclass
class Figures:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    count: int


def _wrk_ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value


WRK_ROTATE_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  wrk.headers["Authorization"] = tokens[(counter % #tokens) + 1]
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def drive_wrk(url: str, path: str, headers: dict[str, str], seconds: float, concurrency: int,
              body: str | None, workdir: Path, rotate: list[tuple[str, str]] | None = None) -> Figures:
    """``rotate``: (Authorization header, path) pairs cycled through, one per request (many users)."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if rotate:
        script = workdir / "rotate.lua"
        script.write_text("tokens = {" + ",".join(json.dumps(a) for a, _ in rotate) + "}\npaths = {"
                          + ",".join(json.dumps(p) for _, p in rotate) + "}\n" + WRK_ROTATE_SCRIPT)
        command += ["-s", str(script)]
    elif body is not None:
        script = workdir / "post.lua"
        script.write_text(f"wrk.method = \"POST\"\nwrk.body = {json.dumps(body)}\n" + WRK_POST_SCRIPT)
        command += ["-s", str(script), "-H", "Content-Type: application/json"]
    output = subprocess.run([*command, url + path], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _wrk_ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1))
    p99 = _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Figures(rps, p50, p99, int(non2xx.group(1)) if non2xx else 0, total)


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
    parser.add_argument("--python-client", action="store_true", help="use the httpx client even if wrk exists")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    moto, moto_url = start_moto(workdir)
    redis_proc, redis_url = start_redis(workdir)
    identity = start_process(["-m", "stack.identity", "--keys-dir", str(workdir / "keys")], {},
                             workdir / "identity.stderr")
    moto_procs, service_urls = start_moto_services(workdir)
    backend = Backend(moto_url=moto_url, redis_url=redis_url, identity=identity, keys_dir=workdir / "keys",
                      workdir=workdir, service_urls=service_urls)
    print(f"moto: {'one process per service (stack.launcher.moto_service)' if service_urls else 'one moto_server'}")
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

        first = users[0]
        sync_request = {"sourceConnectionId": connections[first]["strava"],
                        "destinationConnectionId": connections[first]["fitbit"], "dataType": "workout",
                        "mode": "manual"}
        # (path, body, expected status for "no error"); auth-only answers 404 by design (no AWS call).
        # Jobs to poll: one QUEUED job per user (a poll of an unfinished job always reads DynamoDB).
        job_paths = {}
        with httpx.Client(base_url=api.url, timeout=30) as http:
            for user in users:
                created = http.post("/v1/sync-jobs", headers={**tokens[user], "Idempotency-Key": str(uuid.uuid4())},
                                    json={"sourceConnectionId": connections[user]["strava"],
                                          "destinationConnectionId": connections[user]["fitbit"],
                                          "dataType": "workout", "mode": "manual"})
                job_paths[user] = f"/v1/sync-jobs/{created.json().get('jobId', 'none')}"
        wrk_scenarios = {"health": ("/health", None), "auth-only": ("/v1/sync-jobs/not-a-job", None),
                         "connections": ("/v1/connections", None), "sync-jobs": ("/v1/sync-jobs", sync_request),
                         "job-poll": ("", None)}
        rotations = {"connections": [(tokens[u]["Authorization"], "/v1/connections") for u in users],
                     "job-poll": [(tokens[u]["Authorization"], job_paths[u]) for u in users]}
        scenarios = {
            "health": lambda i, c: ("GET", "/health", {}),
            "auth-only": lambda i, c: ("GET", "/v1/sync-jobs/not-a-job", {"headers": tokens[pick(i, c)]}),
            "connections": lambda i, c: ("GET", "/v1/connections", {"headers": tokens[pick(i, c)]}),
            "job-poll": lambda i, c: ("GET", job_paths[pick(i, c)], {"headers": tokens[pick(i, c)]}),
            "sync-jobs": lambda i, c: ("POST", "/v1/sync-jobs", {
                "headers": {**tokens[pick(i, c)], "Idempotency-Key": str(uuid.uuid4())},
                "json": {"sourceConnectionId": connections[pick(i, c)]["strava"],
                         "destinationConnectionId": connections[pick(i, c)]["fitbit"],
                         "dataType": "workout", "mode": "manual"}}),
        }
        use_wrk = shutil.which("wrk") is not None and not args.python_client
        print(f"client: {'wrk (connections, job-poll: every user in turn; others: one user)' if use_wrk else 'httpx asyncio (rotating users)'}")
        print(f"{'scenario':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'API cpu ms/req':>15}")
        for name, make in scenarios.items():
            cpu_before = cpu_seconds(api.popen.pid)
            if use_wrk:
                path, body = wrk_scenarios[name]
                rotate = rotations.get(name)
                figures = drive_wrk(api.url, path, tokens[first] if name not in ("health", *rotations) else {},
                                    args.seconds, args.concurrency, json.dumps(body) if body else None, workdir,
                                    rotate)
            else:
                count, latencies, errors = asyncio.run(drive(api.url, make, args.seconds, args.concurrency))
                figures = Figures(count / args.seconds, percentile(latencies, 0.5), percentile(latencies, 0.99),
                                  errors, count)
            cpu = cpu_seconds(api.popen.pid) - cpu_before
            print(f"{name:<12} {figures.requests_per_s:>8.0f} {figures.p50_ms:>8.1f} {figures.p99_ms:>8.1f} "
                  f"{figures.errors:>8} {cpu / max(figures.count, 1) * 1000:>15.3f}")
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; concurrency {args.concurrency})")
    finally:
        if api:
            api.stop()
        identity.stop()
        for proc in moto_procs:
            proc.stop()
        redis_proc.terminate()
        moto.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
