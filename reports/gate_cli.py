"""Command-line flags for SLO gates, shared by every command that judges a run (``swsim load`` and friends)."""
from __future__ import annotations

import argparse
from pathlib import Path

from reports.gates import DEFAULT_GATES, GateConfigError, GateSet, gate_set_from_options
from sim.errors import UsageError

GATES_HELP = "default gates: " + "; ".join(f"{g.name} {g.describe_threshold()}" for g in DEFAULT_GATES)


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SLO gates", GATES_HELP)
    group.add_argument("--gate", action="append", default=[], metavar="NAME=VALUE",
                       help="override a gate: api_p99=300 (threshold), error_rate=off, api_p99.per_window=false "
                            "(repeatable; applied after --gate-file)")
    group.add_argument("--gate-file", type=Path, metavar="YAML",
                       help="YAML: {window_min_samples: N, gates: {NAME: {threshold: .., metric: .., op: ..} | off}}")
    group.add_argument("--window-min-samples", type=int, metavar="N",
                       help="windows with fewer samples are not judged (default 100)")


def gate_set_from_args(args: argparse.Namespace) -> GateSet:
    """The gates a command line asked for; a malformed file or flag is a usage error (exit 2)."""
    if args.window_min_samples is not None and args.window_min_samples < 1:
        raise UsageError("--window-min-samples must be >= 1")
    try:
        return gate_set_from_options(args.gate_file, args.gate, args.window_min_samples)
    except GateConfigError as exc:
        raise UsageError(str(exc)) from exc
