"""``swsim up``: the whole SyncWell backend on this machine until Ctrl-C."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from sim.errors import SetupError, UsageError

DESCRIPTION = """\
Start the embedded stack: moto (one process per AWS service: SQS, DynamoDB, Secrets Manager, S3, EventBridge),
Redis (redis-server when installed, else fakeredis), the fake Strava/Fitbit/Garmin servers, the local identity
providers, and the SyncWell services (api, worker, coalescer, scheduler), each on a loopback port. Creates every
AWS resource, seeds users with provider connections and tokens, prints the endpoints, and runs until Ctrl-C or
SIGTERM, then stops every process it started.

Other tools find the running stack through the state file (<state-dir>/state.json): endpoints, PIDs, log files,
the AWS environment to use. Each child's output is in <state-dir>/logs/."""
EPILOG = """\
examples:
  swsim up                                  # 100 users, state in a temp dir (printed)
  swsim up --users 1000 --state-dir runs/stack
  swsim up --json > stack.json &            # one JSON line when ready, for scripts
  swsim up --coalescing-delay 5             # webhooks coalesced over 5 s instead of 60
  swsim up --workers 3 --users 1000         # three worker processes (worker-1..worker-3)
  swsim up --no-fault-proxies               # services talk to moto/Redis directly (no chaos layer)"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="run the whole backend locally until Ctrl-C",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stack_options(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the state file's content) instead of the endpoint table")
    parser.set_defaults(func=run)


def add_stack_options(parser: argparse.ArgumentParser, default_users: int = 100) -> None:
    """Options shared by every command that brings the stack up (up, demo)."""
    parser.add_argument("--users", type=int, default=default_users, metavar="N",
                        help=f"users to seed, each with two connected providers (default {default_users})")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where logs, keys and state.json go (default: a new temp dir, removed on exit)")
    parser.add_argument("--redis", choices=("auto", "real", "fake"), default="auto",
                        help="auto: redis-server when on PATH, else fakeredis (default auto)")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated processes to start (e.g. moto-sqs,redis); default all")
    parser.add_argument("--coalescing-delay", type=int, metavar="S",
                        help="CoalescingBufferQueue delay in seconds (0-900; default 60 from the AppConfig)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes (default 1, named 'worker'; N > 1 are 'worker-1'..'worker-N', "
                             "e.g. one per simulated availability zone for chaos experiments)")
    parser.add_argument("--worker-concurrency", type=int, metavar="N", help="batches in flight per worker")
    parser.add_argument("--no-fault-proxies", action="store_true",
                        help="connect the services straight to moto and Redis instead of through the AWS chaos "
                             "proxy and the Redis fault proxy (two processes fewer; chaos experiments need them)")
    parser.add_argument("--moto-server", choices=("threaded", "gevent"), default="threaded",
                        help="HTTP server in front of moto (default threaded, like moto_server)")
    parser.add_argument("--no-sqs-speedup", action="store_true",
                        help="serve stock moto SQS (slow at depth; for comparisons)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice in seeding (default 1)")
    parser.add_argument("--deadline", type=float, default=60.0, metavar="S",
                        help="seconds each phase may take to become ready (default 60)")


def stack_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the shared options and turn them into ``Stack.start`` keyword arguments."""
    if args.users < 0:
        raise UsageError(f"--users must be >= 0, got {args.users}")
    if args.coalescing_delay is not None and not 0 <= args.coalescing_delay <= 900:
        raise UsageError(f"--coalescing-delay must be between 0 and 900 seconds (SQS limit), got {args.coalescing_delay}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.worker_concurrency is not None and args.worker_concurrency < 1:
        raise UsageError(f"--worker-concurrency must be >= 1, got {args.worker_concurrency}")
    if args.deadline <= 0:
        raise UsageError(f"--deadline must be > 0, got {args.deadline}")
    appconfig: dict[str, Any] = {}
    if args.coalescing_delay is not None:
        appconfig["coalescer"] = {"delay_s": args.coalescing_delay}
    only = {name.strip() for name in args.only.split(",") if name.strip()} if args.only else None
    return dict(users=args.users, state_dir=args.state_dir, seed=args.seed, appconfig=appconfig or None,
                services=only, redis=args.redis, moto_server=args.moto_server,
                sqs_speedup=not args.no_sqs_speedup, worker_concurrency=args.worker_concurrency,
                deadline_s=args.deadline, workers=args.workers, fault_proxies=not args.no_fault_proxies)


def start_stack(args: argparse.Namespace, **overrides: Any) -> Any:
    from stack.launcher import Stack, StackStartError

    kwargs = {**stack_kwargs(args), **overrides}
    try:
        return Stack.start(**kwargs)
    except StackStartError as exc:
        raise SetupError(f"the stack did not come up: {exc}") from exc


class _Terminate(Exception):
    """Raised from the SIGTERM/SIGHUP handler to leave the wait loop through the same path as Ctrl-C."""


def run(args: argparse.Namespace) -> int:
    def terminate(signum: int, _frame: Any) -> None:
        raise _Terminate(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    try:
        stack = start_stack(args)  # a signal during bring-up: Stack.start stops what it started, then re-raises
    except _Terminate as exc:
        print(f"swsim up: {exc} during start-up; every process started so far was stopped", file=sys.stderr)
        return 143
    try:
        print_ready(stack, as_json=args.json)
        for failure in stack.wait():
            print(f"swsim up: {failure.name} exited unexpectedly (exit code {failure.exit_code})\n"
                  f"{failure.stderr_tail}", file=sys.stderr, flush=True)
    except (KeyboardInterrupt, _Terminate):
        pass
    finally:
        print("swsim up: stopping...", file=sys.stderr, flush=True)
        started = time.monotonic()
        stack.stop()
        print(f"swsim up: stopped every process in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def print_ready(stack: Any, as_json: bool) -> None:
    state = stack.describe()
    if as_json:
        print(json.dumps(state), flush=True)
        return
    timings = stack.timings
    lines = [f"SyncWell stack ready in {timings.total_s:.2f} s "
             f"(infrastructure {timings.infra_s:.2f} s, bootstrap {timings.bootstrap_s:.2f} s, "
             f"services {timings.app_s:.2f} s, seeding {timings.seed_s:.2f} s)"]
    width = max(len(name) for name in state["endpoints"]) if state["endpoints"] else 10
    for name, url in state["endpoints"].items():
        pid = state["processes"].get(name, {}).get("pid")
        lines.append(f"  {name:<{width}}  {url}  (pid {pid})")
    lines.append(f"  users seeded: {state['users']}   state: {stack.state_file}   logs: {state['log_dir']}")
    lines.append("  for boto3/aws-cli in another shell:")
    lines += [f"    export {key}={value}" for key, value in state["aws_env"].items()]
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), flush=True)
