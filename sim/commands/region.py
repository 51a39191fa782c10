"""``swsim region``: two regions of the stack, global-table replication and failover routing (issue 8).

    swsim region rehearse                      # the region-outage gameday, full form (Route 53's own clock)
    swsim region rehearse --short              # the short form: checks 60x faster, ~40 s after start-up
    swsim region rehearse --short --dau 3000   # the Nominal load at another DAU (--compress: its day's speed)
    swsim region rehearse FILE --short --out runs/region --lag 2 --interval 1 --failback automatic
    swsim region up --interval 0.5 --ttl 1     # the two regions until Ctrl-C (prints router, APIs, replicator)
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sim.errors import CheckFailed, SetupError, UsageError

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "chaos" / "gamedays" / "region-outage.yaml"
DESCRIPTION = """\
Rehearse a primary-region outage (seeds 001 §3b Runbook 2, 004 §4, 000 §5, 003): us-east-1 and us-west-2 run on
one machine (one moto serving both regions, a Redis, API, worker and coalescer per region), a replicator copies
every write between the two tables after a lag (last writer wins, as DynamoDB global tables), and a router does
Route 53 failover routing (health checks every interval, failure threshold, DNS TTL, manual or automatic
failback). The rehearsal replays the Nominal traffic model through the router with the Locust load engine (as
'swsim load' does: connections, manual syncs and their polls, settings, device uploads, exports, webhooks via the
fake providers; the file's load section sets the model, DAU, time compression and Locust users), kills the
primary region, and measures detection, RTO (until the DR region acknowledges a sync job), RPO (acknowledged
sync jobs missing in the DR table: count and window), what became of the jobs caught in the dead region,
failback, and the requests and errors of each phase; the report compares each figure with every seed's target.

Outputs in --out: report.json, report.html. Exit 0 every invariant held, 1 one failed, 2 usage error."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("region", help="two regions, replication and failover; rehearse a region outage",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="region_command", metavar="SUBCOMMAND")
    rehearse = sub.add_parser("rehearse", help="run the region-outage gameday",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    rehearse.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE,
                          help="rehearsal YAML (default: scenarios/chaos/gamedays/region-outage.yaml)")
    rehearse.add_argument("--short", action="store_true", help="the file's short form (what the tests run)")
    rehearse.add_argument("--dau", type=int, default=None, metavar="N", help="the load model's daily active users")
    rehearse.add_argument("--compress", type=float, default=None, metavar="X",
                          help="time compression of the load model's day")
    rehearse.add_argument("--out", type=Path, default=None, help="report directory (default runs/region/NAME)")
    _add_region_flags(rehearse)
    rehearse.add_argument("--json", action="store_true", help="print the figures as JSON")
    rehearse.set_defaults(func=rehearse_command)
    up = sub.add_parser("up", help="run the two regions until Ctrl-C",
                        description="Start the region pair and print where everything is; Ctrl-C stops it.")
    up.add_argument("--users", type=int, default=20)
    _add_region_flags(up)
    up.set_defaults(func=up_command)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _add_region_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lag", type=float, default=None, metavar="S", help="replication lag in seconds")
    parser.add_argument("--interval", type=float, default=None, metavar="S", help="health check interval")
    parser.add_argument("--threshold", type=int, default=None, metavar="N", help="failure threshold")
    parser.add_argument("--ttl", type=float, default=None, metavar="S", help="DNS TTL of the failover record")
    parser.add_argument("--failback", choices=("manual", "automatic"), default=None)
    parser.add_argument("--check-path", default=None, metavar="PATH",
                        help="what the health checks GET: /health (default, as the seeds) or /health/deep "
                             "(also fails over when the region's DynamoDB or SQS is down)")


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    pairs = {"replication_lag_s": args.lag, "check_interval_s": args.interval,
             "failure_threshold": args.threshold, "dns_ttl_s": args.ttl, "failback": args.failback,
             "check_path": args.check_path}
    out = {k: v for k, v in pairs.items() if v is not None}
    if out.get("check_interval_s") is not None and float(out["check_interval_s"]) <= 0:  # type: ignore[arg-type]
        raise UsageError("--interval must be > 0")
    if args.check_path is not None and not args.check_path.startswith("/"):
        raise UsageError("--check-path must start with /, e.g. /health/deep")
    if "check_interval_s" in out:
        out["check_timeout_s"] = min(4.0, float(out["check_interval_s"]))  # type: ignore[arg-type]
    return out


def rehearse_command(args: argparse.Namespace) -> int:
    from stack.region.plan import load_plan

    load = {k: v for k, v in (("dau", args.dau), ("compress", args.compress)) if v is not None}
    plan = load_plan(args.file, short=args.short).with_overrides(**_overrides(args), **load)
    if plan.dau < 1 or plan.compress <= 0:
        raise UsageError("--dau must be >= 1 and --compress > 0")
    return execute_rehearsal(plan, args.out or Path("runs/region") / plan.name, as_json=args.json)


def execute_rehearsal(plan: Any, out: Path, as_json: bool = False) -> int:
    """Run the rehearsal, print its figures (``swsim region rehearse`` and ``swsim gameday`` of a region-outage
    file), raise CheckFailed when an invariant failed."""
    from stack.launcher.stack import StackStartError
    from stack.region.rehearsal import run_rehearsal

    try:
        result = run_rehearsal(plan, out, log=lambda line: print(f"[region] {line}", file=sys.stderr, flush=True))
    except StackStartError as exc:
        raise SetupError(f"the region pair did not start: {exc}") from exc
    f = result.figures
    if as_json:
        print(json.dumps({"figures": f, "seeds": result.seeds,
                          "invariants": [i.__dict__ for i in result.invariants]}, indent=2, default=str))
    else:
        print(f"detection {f['detection_s']} s, RTO {f['rto_s']} s (production-equivalent "
              f"{f['rto_production_equivalent_s']} s), RPO {f['rpo_lost_writes']} write(s) / {f['rpo_window_s']} s, "
              f"stranded jobs {f['stranded_jobs']} (finished after recovery {f['stranded_finished_after_recovery']}), "
              f"failback {f['failback_after_recovery_s']} s after recovery (first primary ack "
              f"{f['first_primary_ack_after_recovery_s']} s)")
        for name, p in f["load_requests_by_phase"].items():
            print(f"  {name:8} {p['seconds']:6.1f} s: {p['requests']} requests, {p['failed']} failed, "
                  f"by region {p['by_region']}; sync jobs {p['sync_jobs_submitted']} submitted, acknowledged "
                  f"{p['sync_jobs_acknowledged']}")
        for s in result.seeds:
            verdict = {True: "holds", False: "NOT held", None: "-"}[s["holds"]]
            print(f"  seed {s['seed']} {s['metric'].upper()} < {s['limit_s']:g} s: {verdict}")
        for inv in result.invariants:
            print(f"  {'held  ' if inv.holds else 'FAILED'} {inv.name}: {inv.detail}")
    print(f"report: {out / 'report.html'}\njson:   {out / 'report.json'}")
    if result.exit_code:
        failed = [i.name for i in result.invariants if not i.holds]
        raise CheckFailed(f"region rehearsal {plan.name}: {', '.join(failed)}")
    return 0


def up_command(args: argparse.Namespace) -> int:
    from stack.region.pair import RegionOptions, RegionPair
    from stack.region.rehearsal import APPCONFIG

    import dataclasses

    options = dataclasses.replace(RegionOptions(), **_overrides(args))
    pair = RegionPair.start(options, users=args.users, appconfig=APPCONFIG)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        print(json.dumps(pair.describe(), indent=2), flush=True)
        while not stop["now"]:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        pair.stop()
    return 0
