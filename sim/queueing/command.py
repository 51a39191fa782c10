"""``swsim capacity simulate``: run the hot-path queueing simulator from the command line.

``register(capacity_subparsers)`` adds the ``simulate`` subcommand under ``swsim capacity`` (the capacity
command module owns the parent parser and calls this).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

from sim.errors import UsageError
from sim.queueing.arrivals import SECONDS_PER_DAY, TRAFFIC_MODELS, ArrivalProfile
from sim.queueing.config import (
    CostRates,
    FixedPool,
    LambdaScaling,
    ProviderBucket,
    QueueSimConfig,
    ServiceTime,
    DEFAULT_PROVIDERS,
)
from sim.queueing.fast import simulate
from sim.queueing.html_report import render_html
from sim.queueing.oracle import simulate_simpy
from sim.queueing.result import QueueSimResult

DESCRIPTION = """\
Simulate the hot path (SQS standard queue -> worker Lambdas in batches of 10 -> provider token buckets) for a
traffic model or a recorded trace, and report queue depth over time, wait and end-to-end latency percentiles,
the concurrency reached, the DLQ rate and the Lambda compute cost.

Traffic: --model picks seed 004 §2's syncs/user/day and peak-to-average ratio (conservative 5/3:1,
nominal 10/5:1, aggressive 20/8:1); times --dau gives syncs/day (nominal at 1M DAU: 10,000,000/day,
~116/s average, ~580/s peak). Arrivals are Poisson on a diurnal profile peaking at 19:00. --trace FILE
replays recorded arrival times instead.

Workers: by default the SQS event-source scaling AWS documents (5 concurrent batches, up to +300 per minute
while messages wait, at most --max-concurrency); --workers N is a fixed pool instead."""

EPILOG = """\
examples:
  swsim capacity simulate                                   # a whole Nominal day at 1M DAU (~10 s)
  swsim capacity simulate --model aggressive --json         # machine-readable summary
  swsim capacity simulate --duration 2h --start-hour 18 --workers 60 --html out/q.html
  swsim capacity simulate --trace beta_arrivals.txt --service-ms-median 200 --service-ms-p95 900
  swsim capacity simulate --provider fitbit=0.5:150:300 --provider strava=0.5:100:200 --non-transient-rate 0.001"""

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def register(capacity_subparsers: argparse._SubParsersAction) -> None:
    parser = capacity_subparsers.add_parser(
        "simulate",
        help="fast queueing simulation of the hot path (queue depth, latency, concurrency, DLQ, cost)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    traffic = parser.add_argument_group("traffic")
    traffic.add_argument("--model", choices=sorted(TRAFFIC_MODELS), default="nominal", help="seed 004 §2 traffic scenario (default nominal)")
    traffic.add_argument("--dau", type=int, default=1_000_000, help="daily active users (default 1,000,000)")
    traffic.add_argument("--duration", type=_duration, default=SECONDS_PER_DAY, help="simulated span: seconds or 30m/2h/1d (default a whole day)")
    traffic.add_argument("--start-hour", type=float, default=0.0, help="hour of the day the span starts at (default 0; the peak is at 19)")
    traffic.add_argument("--bucket-s", type=float, default=60.0, help="width of the rate profile's buckets in seconds (default 60)")
    traffic.add_argument("--trace", type=Path, help="arrival times in seconds, one per line (or a .npy array); overrides --model")

    workers = parser.add_argument_group("workers")
    pool = workers.add_mutually_exclusive_group()
    pool.add_argument("--workers", type=int, help="a fixed pool of N workers instead of Lambda scaling")
    pool.add_argument("--max-concurrency", type=int, help="Lambda scaling with this MaximumConcurrency (default 1000)")
    workers.add_argument("--batch-size", type=int, default=10, help="messages per invocation at most (default 10)")
    workers.add_argument("--service-ms-median", type=float, default=130.0, help="median time per sync job in ms (default 130)")
    workers.add_argument("--service-ms-p95", type=float, default=300.0, help="p95 time per sync job in ms (default 300; lognormal)")
    workers.add_argument("--service-samples", type=Path, help="measured job times in ms, one per line: resampled instead of the lognormal")

    retries = parser.add_argument_group("providers, failures and retries")
    retries.add_argument(
        "--provider",
        action="append",
        metavar="NAME=SHARE:RATE:BURST",
        help="a provider's share of jobs and token bucket (rate/s, 'inf' for none); repeat per provider "
        "(default fitbit=0.4:250:500 strava=0.3:250:500 garmin=0.3:250:500)",
    )
    retries.add_argument("--non-transient-rate", type=float, default=0.0, help="share of jobs that fail on every receive and end in the DLQ")
    retries.add_argument("--transient-rate", type=float, default=0.0, help="chance one receive fails and is redriven")
    retries.add_argument("--refusal-requeue", choices=("resend", "change-visibility"), default="resend",
                         help="how a token refusal requeues: 'resend' keeps refusals out of the DLQ count; "
                         "'change-visibility' is SQS's literal behaviour, where refusals count as receives")
    retries.add_argument("--backoff-base-s", type=float, default=1.0, help="backoff base in seconds (default 1)")
    retries.add_argument("--backoff-cap-s", type=float, default=60.0, help="backoff cap in seconds (default 60)")
    retries.add_argument("--visibility-timeout-s", type=float, default=30.0, help="queue visibility timeout (default 30)")

    cost = parser.add_argument_group("cost (seed 004 §9 defaults)")
    cost.add_argument("--memory-mb", type=int, default=1024)
    cost.add_argument("--usd-per-gb-s", type=float, default=0.00001333)
    cost.add_argument("--usd-per-million-requests", type=float, default=0.20)

    output = parser.add_argument_group("run and output")
    output.add_argument("--seed", type=int, default=1, help="random seed (same seed, same result)")
    output.add_argument("--engine", choices=("fast", "simpy"), default="fast", help="simpy is the slow reference model, for small runs")
    output.add_argument("--stop-at-end", action="store_true", help="stop at the end of the span instead of draining the queue")
    output.add_argument("--sample-s", type=float, help="time-series sample interval (default span/1440, at least 1 s)")
    output.add_argument("--json", action="store_true", help="print the summary as JSON")
    output.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report with charts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    arrivals = build_arrivals(args)
    engine = simulate if args.engine == "fast" else simulate_simpy
    result = engine(config, arrivals)
    summary = result.to_summary()
    if args.html:
        try:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(render_html(result), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.html}: {exc}") from exc
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_text(result))
    return 0


def build_config(args: argparse.Namespace) -> QueueSimConfig:
    pool: FixedPool | LambdaScaling
    try:
        if args.workers is not None:
            pool = FixedPool(args.workers)
        else:
            pool = LambdaScaling(max_concurrency=args.max_concurrency or 1000)
        if args.service_samples:
            service = ServiceTime.empirical(_read_numbers(args.service_samples))
        else:
            service = ServiceTime(median_ms=args.service_ms_median, p95_ms=args.service_ms_p95)
        providers = tuple(_provider(text) for text in args.provider) if args.provider else DEFAULT_PROVIDERS
        sample_s = args.sample_s or max(1.0, args.duration / 1440.0)
        return QueueSimConfig(
            pool=pool,
            batch_size=args.batch_size,
            service=service,
            providers=providers,
            backoff_base_s=args.backoff_base_s,
            backoff_cap_s=args.backoff_cap_s,
            refusal_requeue="resend" if args.refusal_requeue == "resend" else "change_visibility",
            visibility_timeout_s=args.visibility_timeout_s,
            non_transient_failure_prob=args.non_transient_rate,
            transient_failure_prob=args.transient_rate,
            horizon_s=(args.start_hour * 3600.0 + args.duration) if args.stop_at_end else None,
            sample_interval_s=sample_s,
            cost=CostRates(args.memory_mb, args.usd_per_gb_s, args.usd_per_million_requests),
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def build_arrivals(args: argparse.Namespace) -> np.ndarray | ArrivalProfile:
    if args.trace:
        times = _read_numbers(args.trace)
        if times.size and np.any(np.diff(times) < 0):
            times = np.sort(times)
        return times
    if args.dau <= 0:
        raise UsageError("--dau must be > 0")
    if args.start_hour < 0 or args.duration <= 0:
        raise UsageError("--start-hour must be >= 0 and --duration > 0")
    model = TRAFFIC_MODELS[args.model]
    try:
        day = model.profile(args.dau, bucket_s=args.bucket_s)
        days_needed = math.ceil((args.start_hour * 3600.0 + args.duration) / SECONDS_PER_DAY)
        full = ArrivalProfile(np.tile(day.rates, days_needed), day.bucket_s, 0.0)
        return full.window(args.start_hour * 3600.0, args.duration)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def format_text(result: QueueSimResult) -> str:
    s = result.to_summary()
    wait, e2e, cost = s["wait"], s["end_to_end"], s["cost"]
    lines = [
        f"engine {s['engine']}, pool {s['pool']}, simulated {s['simulated_s'] / 3600:.2f} h in {s['wall_time_s']:.2f} s",
        f"jobs          {s['arrivals']:,} arrived, {s['succeeded']:,} succeeded, {s['dead_lettered']:,} dead-lettered "
        f"({s['dlq_rate']:.4%}), {s['in_flight_at_end']:,} in flight at the end",
        f"refusals      {s['refusals']:,} token-bucket refusals {s['refusals_by_provider']}",
        f"wait          p50 {wait['p50_s']:.3f} s  p95 {wait['p95_s']:.3f} s  p99 {wait['p99_s']:.3f} s  max {wait['max_s']:.3f} s",
        f"end to end    p50 {e2e['p50_s']:.3f} s  p95 {e2e['p95_s']:.3f} s  p99 {e2e['p99_s']:.3f} s  max {e2e['max_s']:.3f} s",
        f"queue         max visible depth {s['max_queue_depth']:,}",
        f"concurrency   max {s['max_concurrency']:,} (limit reached {s['max_concurrency_limit']:.0f}), mean {s['mean_concurrency']:.1f}, "
        f"{s['mean_batch_size']:.2f} jobs per invocation",
        f"Lambda cost   {cost['invocations']:,} invocations, {cost['billed_gb_seconds']:,.0f} GB-s: ${cost['total_usd']:,.2f} "
        f"(${cost['total_usd_per_day']:,.2f}/day, ${cost['total_usd_per_30_days']:,.2f}/30 days)",
    ]
    return "\n".join(lines) + "\n"


def _duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use seconds or 30m, 2h, 1d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _provider(text: str) -> ProviderBucket:
    try:
        name, spec = text.split("=", 1)
        share, rate, burst = spec.split(":")
        return ProviderBucket(name.strip(), float(share), float(rate), float(burst))
    except ValueError as exc:
        raise UsageError(f"--provider {text!r}: expected NAME=SHARE:RATE:BURST, e.g. fitbit=0.4:250:500 ({exc})") from exc


def _read_numbers(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npy":
            values = np.load(path)
        else:
            values = np.loadtxt(path, dtype=np.float64, ndmin=1, comments="#", delimiter=",", usecols=0)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read numbers from {path}: {exc}") from exc
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise UsageError(f"{path}: values must be finite numbers")
    return values
