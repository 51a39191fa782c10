"""``swsim report``: work with finished run directories (summary.json, junit.xml, report.html)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reports.compare import CompareInputError, Thresholds, compare_runs, render_comparison
from sim.errors import UsageError

COMPARE_HELP = """\
Compare run directory B (candidate) against A (baseline), endpoint by endpoint and in total (ALL):
p50/p95/p99 latency (from scheduled start, HDR), error rate and throughput.

A latency regression needs both --latency-pct (relative) and --latency-min-ms (absolute) increases.
exit codes: 0 no regression, 1 a regression beyond the thresholds, 2 bad input (missing or invalid run dir).

example:
  swsim report compare runs/main runs/my-branch --latency-pct 5 --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("report", help="compare finished load runs",
                                   description="Work with finished load-run directories.")
    sub = parser.add_subparsers(dest="report_command", metavar="SUBCOMMAND")
    compare = sub.add_parser("compare", help="show what regressed between two run directories",
                             description=COMPARE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("baseline", type=Path, help="run directory A (holds summary.json)")
    compare.add_argument("candidate", type=Path, help="run directory B (holds summary.json)")
    defaults = Thresholds()
    compare.add_argument("--latency-pct", type=float, default=defaults.latency_pct,
                         help=f"relative p50/p95/p99 increase that regresses (default {defaults.latency_pct:g} %%)")
    compare.add_argument("--latency-min-ms", type=float, default=defaults.latency_min_ms,
                         help=f"absolute increase also needed (default {defaults.latency_min_ms:g} ms)")
    compare.add_argument("--error-rate-pp", type=float, default=defaults.error_rate_pp,
                         help=f"error-rate increase in percentage points (default {defaults.error_rate_pp:g})")
    compare.add_argument("--throughput-pct", type=float, default=defaults.throughput_pct,
                         help=f"relative throughput drop that regresses (default {defaults.throughput_pct:g} %%)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.set_defaults(func=run_compare)
    parser.set_defaults(func=lambda args: _missing_subcommand(parser))


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_compare(args: argparse.Namespace) -> int:
    thresholds = Thresholds(args.latency_pct, args.latency_min_ms, args.error_rate_pp, args.throughput_pct)
    try:
        comparison = compare_runs(args.baseline, args.candidate, thresholds)
    except CompareInputError as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(comparison.to_dict(), indent=2) if args.json else render_comparison(comparison))
    return comparison.exit_code
