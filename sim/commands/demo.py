"""``swsim demo``: bring the stack up, run a short burst of real syncs through it, print what happened, stop."""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import httpx

from sim.commands.up import add_stack_options, start_stack
from sim.errors import UsageError

DESCRIPTION = """\
Starts the embedded stack (as 'swsim up' does), then for --jobs seeded users: mints a login token, submits a
manual sync (POST /v1/sync-jobs with an Idempotency-Key) and polls GET /v1/sync-jobs/{id} until it finishes.
Prints jobs accepted / succeeded / failed / dead-lettered, the writes the fake providers received, the worker's
counters and the end-to-end latency (p50 / p95 / max), then stops every process. Exit code 0 when every job
succeeded, 1 otherwise."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="bring the stack up, run a burst of real syncs, print the outcome",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stack_options(parser, default_users=20)
    parser.add_argument("--jobs", type=int, default=20, metavar="N", help="manual syncs to submit (default 20)")
    parser.add_argument("--timeout", type=float, default=40.0, metavar="S",
                        help="seconds to wait for the jobs to finish (default 40)")
    parser.add_argument("--history-days", type=int, default=7, metavar="D",
                        help="days of history each fake user has (default 7: a sync moves about a week of "
                             "workouts; the fakes' own default is 90)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    if args.users < 1:
        raise UsageError("--users must be >= 1: the demo syncs seeded users")
    from stack.launcher.driver import run_sync_burst

    if args.history_days < 1:
        raise UsageError(f"--history-days must be >= 1, got {args.history_days}")
    stack = start_stack(args, fake_config={"history_days": args.history_days})
    try:
        if not args.json:
            print(f"stack ready in {stack.timings.total_s:.2f} s ({len(stack.processes)} processes, "
                  f"{len(stack.users)} users seeded); submitting {args.jobs} manual syncs...", flush=True)
        report = run_sync_burst(stack, jobs=args.jobs, timeout_s=args.timeout)
        summary = summarize(stack, report)
    finally:
        stack.stop()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0 if summary["jobs"]["succeeded"] == args.jobs else 1


def summarize(stack: Any, report: Any) -> dict[str, Any]:
    writes = {}
    for provider in ("strava", "fitbit", "garmin"):
        try:
            counters = httpx.get(f"{stack.fake_url(provider)}/_fake/counters", timeout=5).json()
            writes[provider] = {"writes": counters.get("writes", 0), "requests": counters.get("requests", 0)}
        except (httpx.HTTPError, KeyError, ValueError):
            writes[provider] = {"writes": None, "requests": None}
    worker: dict[str, Any] = {}
    if stack.health_url("worker"):
        try:
            worker = httpx.get(str(stack.health_url("worker")), timeout=5).json().get("counters", {})
        except (httpx.HTTPError, ValueError):
            worker = {}
    statuses: dict[str, int] = {}
    for outcome in report.outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    return {
        "startup_s": round(stack.timings.total_s, 2),
        "burst_s": round(report.seconds, 2),
        "jobs": {"submitted": len(report.outcomes), "accepted": report.accepted,
                 "succeeded": report.count("SUCCEEDED"), "failed": report.count("FAILED"),
                 "dead_lettered": report.count("DEAD_LETTERED"), "by_status": statuses},
        "latency_s": {k: round(v, 3) for k, v in report.latency_percentiles().items()},
        "provider_traffic": writes,
        "worker": {k: worker.get(k) for k in ("received", "succeeded", "retried", "failed", "dead_lettered",
                                              "third_party_calls", "items_written") if k in worker},
    }


def print_summary(summary: dict[str, Any]) -> None:
    jobs = summary["jobs"]
    latency = summary["latency_s"]
    lines = [
        f"jobs: {jobs['submitted']} submitted, {jobs['accepted']} accepted, {jobs['succeeded']} succeeded, "
        f"{jobs['failed']} failed, {jobs['dead_lettered']} dead-lettered  ({summary['burst_s']:.1f} s)",
    ]
    other = {k: v for k, v in jobs["by_status"].items() if k not in ("SUCCEEDED", "FAILED", "DEAD_LETTERED")}
    if other:
        lines.append(f"  other outcomes: {other}")
    if latency:
        lines.append(f"end-to-end latency: p50 {latency['p50']:.2f} s, p95 {latency['p95']:.2f} s, "
                     f"max {latency['max']:.2f} s")
    traffic = ", ".join(f"{p} {t['writes']} writes / {t['requests']} requests"
                        for p, t in summary["provider_traffic"].items())
    lines.append(f"fake providers: {traffic}")
    if summary["worker"]:
        lines.append("worker: " + ", ".join(f"{k} {v}" for k, v in summary["worker"].items()))
    print("\n".join(lines))
