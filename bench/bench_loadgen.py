"""Benchmark of the open-model load engine: accuracy against ground truth, and speed.

    python bench/bench_loadgen.py [--quick] [--only accuracy|speed]

1. Accuracy: a stub server with a known latency per request (the schedule carries it) that pauses 1 s every
   10 s. The ground-truth p99 follows from the schedule alone; the engine's p99 (HDR, from the scheduled start)
   must be within 5 %. Locust's own p99 is printed beside it, with a pool big enough to start everything on time
   and with a small pool (where a closed-model tool cannot see the queueing: coordinated omission).
2. Speed: raw Locust FastHttpUser (closed loop, no recording) against a fast endpoint, versus this engine with
   its recording on, both in one Locust process: maximum throughput, and open-model runs at fixed rates.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reports import histogram as hdr  # noqa: E402
from scenarios.engine import ScheduledEvent, run_open_model  # noqa: E402
from scenarios.engine.stub_builders import STUB_BUILDERS  # noqa: E402
from scenarios.engine.stub_server import StallPlan, expected_latency_s  # noqa: E402

RAW_LOCUSTFILE = """
import os, time
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser

_cpu = {}

@events.spawning_complete.add_listener
def _started(**_):
    _cpu["start"] = time.process_time()

@events.test_stop.add_listener
def _stopped(**_):
    with open(os.environ["RAW_CPU_FILE"], "w") as f:
        f.write(str(time.process_time() - _cpu.get("start", 0.0)))

class Raw(FastHttpUser):
    wait_time = constant(0)

    @task
    def fast(self):
        self.client.get("/fast", name="GET /fast")
"""


class StubServer:
    def __init__(self, stall_every: float = 0.0, stall_for: float = 0.0):
        self.proc = subprocess.Popen([sys.executable, "-m", "scenarios.engine.stub_server", "--stall-every",
                                      str(stall_every), "--stall-for", str(stall_for)], stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline().split(" ", 1)[1])["url"]

    def __enter__(self) -> "StubServer":
        return self

    def __exit__(self, *_: object) -> None:
        self.proc.kill()
        self.proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100.0 * len(ordered) + 0.5)) - 1))]


def bench_accuracy(seconds: float, rate: float) -> None:
    plan = StallPlan(10.0, 1.0)
    rng = random.Random(1)
    events = [ScheduledEvent(i / rate, "work", i, int(rng.lognormvariate(3.0, 0.5))) for i in range(int(rate * seconds))]
    truth = [expected_latency_s(e.at_s, e.payload_bytes, plan) * 1000.0 for e in events]
    print(f"\n== accuracy: {rate:g} req/s for {seconds:g} s, work lognormal(3.0, 0.5) ms, 1 s stall every 10 s ==")
    print(f"ground truth from the schedule: p50 {percentile(truth, 50):.1f} ms  p99 {percentile(truth, 99):.1f} ms  "
          f"p99.9 {percentile(truth, 99.9):.1f} ms")
    # big pool: every start on time; small pool: stuck slots are < 1 % of a period's requests, so a closed-model
    # tool's p99 (Locust's own) never sees the stall, while the schedule-based p99 still must
    for pool in (int(rate * 2.5), max(4, int(rate * plan.every_s * 0.005))):
        with StubServer(plan.every_s, plan.for_s) as server, tempfile.TemporaryDirectory() as out:
            result = run_open_model(server.url, events, STUB_BUILDERS, pool_size=pool, window_s=10.0,
                                    out_dir=Path(out), print_progress_lines=False)
        ours = hdr.summarize(result.recorder.endpoints["GET /work"].latency)
        locust = result.locust["GET /work"]
        true_p99 = percentile(truth, 99)
        err = (ours["p99"] - true_p99) / true_p99 * 100.0
        late = result.recorder.totals().late_starts
        lag_p99 = hdr.summarize(result.recorder.start_lag)["p99"]
        print(f"pool {pool:4d}: engine (HDR, from schedule) p50 {ours['p50']:.1f}  p99 {ours['p99']:.1f} ms "
              f"({err:+.2f} % vs truth)  p99.9 {ours['p999']:.1f} | Locust's own p50 {locust.p50_ms:.0f}  "
              f"p99 {locust.p99_ms:.0f} ms | late starts {late} of {len(events)}, start lag p99 {lag_p99:.1f} ms")


def bench_raw_locust(seconds: float, users: int) -> tuple[float, float]:
    with StubServer() as server, tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "raw_locustfile.py"
        locustfile.write_text(textwrap.dedent(RAW_LOCUSTFILE))
        cpu_file = Path(tmp) / "cpu.txt"
        proc = subprocess.run([sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
                               "-r", str(users), "-t", f"{seconds:g}s", "--host", server.url, "--csv",
                               str(Path(tmp) / "raw"), "--only-summary", "--loglevel", "ERROR"],
                              capture_output=True, text=True, cwd=tmp, timeout=seconds + 120,
                              env={**os.environ, "RAW_CPU_FILE": str(cpu_file)})
        cpu = float(cpu_file.read_text())  # from the end of spawning to the stop: no start-up cost
        stats = (Path(tmp) / "raw_stats.csv").read_text().splitlines()
    header = stats[0].split(",")
    row = next(line.split(",") for line in stats[1:] if "GET /fast" in line)
    count = int(row[header.index("Request Count")])
    rps = count / seconds
    cpu_us = cpu / count * 1e6
    print(f"raw Locust FastHttpUser, closed loop, {users} users, 1 process, no recording: {rps:,.0f} req/s wall "
          f"({count} requests in {seconds:g} s); CPU {cpu_us:.0f} us/request -> {1e6 / cpu_us:,.0f} req/s per "
          f"core{'' if proc.returncode == 0 else ' exit ' + str(proc.returncode)}")
    return rps, cpu_us


def run_fast(rate: float, seconds: float, pool: int) -> dict[str, float]:
    events = [ScheduledEvent(i / rate, "fast", i, 0) for i in range(int(rate * seconds))]
    with StubServer() as server, tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run_open_model(server.url, events, STUB_BUILDERS, pool_size=pool, window_s=5.0, out_dir=Path(out),
                                print_progress_lines=False, request_timeout_s=10.0)
        wall = time.perf_counter() - started
        cpu = sum(part.cpu_s for part in result.parts)  # from t0 to the end: no start-up cost
    totals = result.recorder.totals()
    lag = hdr.summarize(result.recorder.start_lag)
    span_done = result.info.duration_s
    return {"requests": totals.requests, "late": totals.late_starts, "errors": totals.errors,
            "throughput": totals.requests / span_done, "lag_p99": lag["p99"] or 0.0, "wall": wall,
            "cpu_us": cpu / max(1, totals.requests) * 1e6,
            "p99": hdr.summarize(result.recorder.all_endpoints_latency())["p99"] or 0.0}


def bench_speed(seconds: float) -> None:
    print(f"\n== speed: fast endpoint, one Locust process, {seconds:g} s per run ==")
    print("(wall rates depend on what else runs on the 2 cores; CPU per request is the contention-free figure)")
    raw_rps, raw_cpu_us = bench_raw_locust(seconds, 50)
    # saturation: a schedule far faster than the process can go makes the engine fire back to back
    saturated = run_fast(20_000, seconds, 50)
    print(f"this engine, recording on, saturated (schedule 20,000/s, 50 slots): {saturated['throughput']:,.0f} "
          f"req/s wall; CPU {saturated['cpu_us']:.0f} us/request -> {1e6 / saturated['cpu_us']:,.0f} req/s per core")
    print(f"overhead vs raw Locust: CPU per request {100.0 * (saturated['cpu_us'] / raw_cpu_us - 1):+.1f} % "
          f"(wall throughput ratio engine/raw {saturated['throughput'] / raw_rps:.2f}, contention-dependent)")
    for rate in (1000, 2000, 3000):
        r = run_fast(rate, seconds, 200)
        print(f"open model at {rate:5d}/s: achieved {r['throughput']:,.0f} req/s, late starts "
              f"{100.0 * r['late'] / max(1, r['requests']):.2f} %, start lag p99 {r['lag_p99']:.1f} ms, "
              f"latency p99 {r['p99']:.1f} ms, errors {r['errors']}, CPU {r['cpu_us']:.0f} us/request")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier figures)")
    parser.add_argument("--only", choices=("accuracy", "speed"))
    parser.add_argument("--rate", type=float, default=200.0, help="accuracy run's arrival rate (default 200/s)")
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {re.sub(r'.*load', 'load', load)}")
    if args.only in (None, "accuracy"):
        bench_accuracy(30.0 if args.quick else 60.0, args.rate)
    if args.only in (None, "speed"):
        bench_speed(10.0 if args.quick else 20.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
