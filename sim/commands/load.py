"""``swsim load``: replay a traffic model with Locust and gate CI on a true p99."""
from __future__ import annotations

import argparse
from pathlib import Path

from reports.gate_cli import add_gate_arguments, gate_set_from_args
from sim.models import model_names

DESCRIPTION = """\
Replay a traffic model (seed 004 §2) against the SyncWell backend in an open model: every request starts at
its scheduled time whether or not earlier ones have answered, and its latency is measured from that scheduled
time (coordinated-omission correct, HDR histograms per endpoint and per window). Then judge the SLO gates and
write summary.json, junit.xml and report.html to --out.

Without --target the embedded stack is started for the run (and stopped after it); --stack-state uses one
started by 'swsim up'; --target URL --context FILE drives any deployment."""

EPILOG = """\
examples:
  swsim load --model nominal --dau 2000 --compress 144 --duration 120 --out runs/nominal
  swsim load --duration 60 --gate api_p99=300 --gate-file reports/gates.example.yaml
  swsim load --workers 2 --out runs/distributed          # a Locust master and 2 worker processes
  swsim load --target https://staging.example --context users.json --out runs/staging

--compress 144 plays one day of traffic in 10 minutes (24 h / 144); DAU scales the model's per-user rates.
Gates (defaults from the seeds): api_p99 < 500 ms, availability >= 99.95 %, sync_success >= 99.9 %,
manual_sync_p95 < 15 s, error_rate < 1 %; judged over the whole run and per window.
exit codes: 0 all gates passed, 1 a gate failed, 2 usage or setup error."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("load", help="replay a traffic model against the backend and judge the SLO gates",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=model_names(), default="nominal", help="traffic model (default nominal)")
    parser.add_argument("--dau", type=_positive_int, default=2000, help="daily active users to model (default 2000)")
    parser.add_argument("--compress", type=_positive_float, default=144.0,
                        help="time compression: model seconds per wall second (default 144)")
    parser.add_argument("--duration", type=_positive_float, default=120.0, help="wall seconds of load (default 120)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the arrival schedule and the stack (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/load"), help="output directory (default runs/load)")
    parser.add_argument("--target", help="base URL of a running deployment (needs --context)")
    parser.add_argument("--context", type=Path, help="scenario context (users, tokens, connections) for --target")
    parser.add_argument("--stack-state", type=Path, help="state dir or state.json of a stack started by 'swsim up'")
    parser.add_argument("--users", type=_positive_int, default=100, help="users the embedded stack seeds (default 100)")
    parser.add_argument("--history-days", type=_positive_int, default=7,
                        help="days of provider history each seeded user has (default 7; older data is the cold path)")
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes (0: a single process)")
    parser.add_argument("--expect-workers", type=int, default=0, metavar="N",
                        help="also wait for N Locust workers started on other machines (see scenarios/engine/DISTRIBUTED.md)")
    parser.add_argument("--master-bind", default="127.0.0.1",
                        help="address the Locust master listens on for remote workers (default 127.0.0.1)")
    parser.add_argument("--master-port", type=int, default=0, help="port of the Locust master (default: any free)")
    parser.add_argument("--pool-size", type=_positive_int, default=400, help="concurrent requests allowed (default 400)")
    parser.add_argument("--window", type=_positive_float, default=10.0, help="gate/histogram window in s (default 10)")
    parser.add_argument("--drain-timeout", type=_positive_float, default=60.0,
                        help="seconds to wait after the load for the queue to drain (default 60)")
    add_gate_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sim.errors import UsageError
    from sim.load import LoadOptions, gate_table, run_load

    if args.workers < 0 or args.expect_workers < 0:
        raise UsageError("--workers and --expect-workers must be >= 0")
    if args.target and args.stack_state:
        raise UsageError("--target and --stack-state are alternatives; give one")
    options = LoadOptions(model=args.model, dau=args.dau, compress=args.compress, duration_s=args.duration,
                          seed=args.seed, out_dir=args.out, target=args.target, context_file=args.context,
                          stack_state=args.stack_state, users=args.users, history_days=args.history_days, workers=args.workers,
                          expect_workers=args.expect_workers, master_bind=args.master_bind,
                          master_port=args.master_port,
                          pool_size=args.pool_size, window_s=args.window, gates=gate_set_from_args(args),
                          drain_timeout_s=args.drain_timeout)
    outcome = run_load(options)
    print(gate_table(outcome.gate_report))
    for failed in outcome.gate_report.failed():
        print(failed.failure_message())
    print(f"reports: {outcome.paths.summary}  {outcome.paths.html}  {outcome.paths.junit}")
    print("PASS" if outcome.exit_code == 0 else "FAIL: a gate failed")
    return outcome.exit_code


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value
