"""Benchmarks of the arrival schedule, the synthetic beta and the fit (prints figures; not collected by pytest).

    python bench/bench_capacity.py            # all
    python bench/bench_capacity.py coverage   # only the bootstrap interval coverage study
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sim.beta.estimate import fit_telemetry
from sim.beta.synthetic import events_from_columns, generate_beta_columns
from sim.beta.telemetry import read_telemetry, write_telemetry
from sim.models import PARAMETER_NAMES, get_model
from sim.schedule import build_rate_profile, generate_arrival_arrays, generate_arrivals


def bench_schedule() -> None:
    model = get_model("nominal")
    profile = build_rate_profile(model, dau=100_000, compression=1.0)  # one real day, 5.4M API+webhook events
    start = time.perf_counter()
    count = sum(1 for _ in generate_arrivals(profile, seed=1))
    elapsed = time.perf_counter() - start
    print(f"generate_arrivals: {count:,} ArrivalEvent objects in {elapsed:.2f} s = {count / elapsed:,.0f} events/s")
    start = time.perf_counter()
    count = sum(len(chunk.at_s) for chunk in generate_arrival_arrays(profile, seed=1))
    elapsed = time.perf_counter() - start
    print(f"generate_arrival_arrays: {count:,} events in {elapsed:.2f} s = {count / elapsed:,.0f} events/s")


def bench_beta() -> None:
    model = get_model("nominal")
    start = time.perf_counter()
    columns = generate_beta_columns(model, users=2_000, days=7, seed=1)
    elapsed = time.perf_counter() - start
    rows = len(columns.ts)
    print(f"synthetic beta columns: {rows:,} events (2,000 users x 7 days) in {elapsed:.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "beta.jsonl"
        start = time.perf_counter()
        write_telemetry(events_from_columns(columns), path)
        elapsed = time.perf_counter() - start
        print(f"write JSONL: {rows / elapsed:,.0f} rows/s ({path.stat().st_size / 1e6:.1f} MB)")
        start = time.perf_counter()
        telemetry = read_telemetry(path)
        elapsed = time.perf_counter() - start
        print(f"read + validate JSONL: {rows / elapsed:,.0f} rows/s")
    start = time.perf_counter()
    fit_telemetry(telemetry, bootstrap=1000)
    print(f"fit with 1,000 bootstrap resamples of 2,000 users: {time.perf_counter() - start:.2f} s")


def bench_coverage(seeds: int = 100, users: int = 300, days: int = 5) -> None:
    model = get_model("nominal").with_overrides(
        heavy_share=0.25, requests_per_session=12, write_read_ratio=1.4, peak_to_average=6
    )
    missed = {name: 0 for name in PARAMETER_NAMES}
    start = time.perf_counter()
    for seed in range(seeds):
        fit = fit_telemetry(generate_beta_columns(model, users, days, seed).telemetry(), bootstrap=400, seed=seed)
        for name in PARAMETER_NAMES:
            missed[name] += not fit.estimates[name].contains(getattr(model, name))
    print(f"95 % interval coverage over {seeds} synthetic betas of {users} users x {days} days "
          f"({time.perf_counter() - start:.1f} s):")
    for name, count in missed.items():
        print(f"  {name:<28} {1 - count / seeds:.0%}")


if __name__ == "__main__":
    wanted = set(sys.argv[1:]) or {"schedule", "beta", "coverage"}
    if "schedule" in wanted:
        bench_schedule()
    if "beta" in wanted:
        bench_beta()
    if "coverage" in wanted:
        bench_coverage()
