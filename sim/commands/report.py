"""``swsim report``: work with finished run directories (summary.json, junit.xml, report.html)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reports.compare import CompareInputError, Thresholds, compare_runs, render_comparison
from reports.gate_cli import add_gate_arguments, gate_set_from_args
from reports.gates import evaluate_gates
from reports.result import RECORDING_FILE, RunResult
from reports.summary import SUMMARY_FILE
from reports.writer import write_reports
from sim.errors import UsageError

GATES_HELP = """\
Judge a finished run again (from its recording.json) with other gates, and rewrite its summary.json,
junit.xml and report.html. Caller-supplied series in the old summary.json are kept.

exit codes: 0 every gate passed, 1 a gate failed, 2 bad input.

example:
  swsim report gates runs/nominal --gate api_p99=300 --gate availability=off
"""

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
    gates = sub.add_parser("gates", help="judge a finished run again with other gates", description=GATES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    gates.add_argument("run_dir", type=Path, help="run directory (holds recording.json)")
    add_gate_arguments(gates)
    gates.set_defaults(func=run_gates)
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


def run_gates(args: argparse.Namespace) -> int:
    gate_set = gate_set_from_args(args)
    try:
        result = RunResult.load(args.run_dir / RECORDING_FILE)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read {args.run_dir / RECORDING_FILE}: {exc}") from exc
    series: dict[str, list[tuple[float, float]]] = {}
    try:
        old = json.loads((args.run_dir / SUMMARY_FILE).read_text())
        series = {name: [(p[0], p[1]) for p in points] for name, points in (old.get("series") or {}).items()}
    except (OSError, ValueError, AttributeError):
        pass  # no previous summary: nothing to keep
    report = evaluate_gates(result, gate_set)
    write_reports(args.run_dir, result, report, series)
    for gate in report.results:
        measured = "no data" if gate.measured is None else f"{gate.measured:.4g} {gate.gate.unit}"
        print(f"{gate.status.upper():8} {gate.gate.name:<18} {measured:>14}  ({gate.gate.describe_threshold()})")
        if gate.status == "fail":
            print(f"         {gate.failure_message()}")
    return report.exit_code
