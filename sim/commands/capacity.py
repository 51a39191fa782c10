"""swsim capacity: traffic-model projections, beta-data fitting, the hot-path queueing simulator and its validation.

Subcommands:
  project   capacity figures and the monthly cost table of seed 004 for a traffic model (or all three)
  fit       estimate the traffic model from beta telemetry, place it against the scenarios, cost the deviations
  schedule  the arrival-rate profile a load run would replay (per kind, per time bucket), and sample events
  beta      beta telemetry tools ('beta generate' writes a synthetic beta file with known parameters)
  simulate  the hot-path queueing simulator (wired from sim/queueing/command.py)
  validate  the simulator's prediction against a measured swsim load run (sim/queueing/validate_command.py)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from sim.capacity import CapacityProjection, project
from sim.cost import CATEGORY_LABELS, CostBreakdown, monthly_cost, projection_record
from sim.errors import UsageError
from sim.queueing.command import register as register_simulate
from sim.queueing.validate_command import register as register_validate
from sim.models import (
    PARAMETER_NAMES,
    TrafficModel,
    format_ratio,
    get_model,
    model_names,
    parse_parameter_assignments,
    seed_stated_figures,
)

PROJECT_EPILOG = """\
examples:
  swsim capacity project                         # Nominal at 1M DAU, readable table
  swsim capacity project --model all             # the three scenarios side by side
  swsim capacity project --model nominal --json  # every figure as JSON (requests_per_day, peak_rps, ...)
  swsim capacity project --dau 250000 --set heavy_share=0.2 --html capacity.html

Figures follow seed 004 §2 (capacity) and §9 (reconciled monthly cost, on demand and with a 3-year Lambda
savings plan). Unit prices and per-sync constants are data: sim/data/cost_table.yaml and
sim/data/capacity_assumptions.yaml."""

FIT_EPILOG = """\
examples:
  swsim capacity beta generate --out beta.jsonl --users 2000 --days 7 --seed 1 --plant heavy_share=0.2
  swsim capacity fit beta.jsonl                  # estimates with 95% bootstrap intervals, placement, costs
  swsim capacity fit beta.csv --json --skip-bad  # count and report malformed rows instead of stopping

The telemetry format (JSONL or CSV) is documented in sim/beta/FORMAT.md."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "capacity",
        help="traffic models, capacity and cost projection, beta-data fitting",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    capacity_subparsers = parser.add_subparsers(dest="capacity_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    _register_project(capacity_subparsers)
    _register_fit(capacity_subparsers)
    _register_beta(capacity_subparsers)
    _register_schedule(capacity_subparsers)
    register_simulate(capacity_subparsers)
    register_validate(capacity_subparsers)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# ----------------------------------------------------------------------------------------------- project


def _register_project(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "project",
        help="capacity figures and monthly cost of a traffic model",
        description="Derive the capacity figures (RPS, syncs/s, DynamoDB QPS, cache ops, egress, workers) and "
        "the monthly cost table of a traffic model, as seed 004 §2 and §9 do.",
        epilog=PROJECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="nominal", help=f"one of {', '.join(model_names())}, or 'all'")
    parser.add_argument("--dau", type=int, help="daily active users (default: the model's, 1,000,000)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help=f"override a model parameter (repeatable); parameters: {', '.join(PARAMETER_NAMES)}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML report")
    parser.set_defaults(func=run_project)


def selected_models(name: str, dau: int | None, overrides: dict[str, float]) -> list[TrafficModel]:
    if dau is not None and dau < 0:
        raise UsageError(f"--dau must be >= 0, got {dau}")
    names = model_names() if name.strip().lower() == "all" else [name]
    models = [get_model(n, dau) for n in names]
    return [model.with_overrides(**overrides) if overrides else model for model in models]


def run_project(args: argparse.Namespace) -> int:
    overrides = parse_parameter_assignments(args.overrides, "--set")
    models = selected_models(args.model, args.dau, overrides)
    records = [projection_record(model) for model in models]
    if args.html:
        from reports.capacity_html import render_projection_report

        _write_text(args.html, render_projection_report(models))
    if args.json:
        payload: Any = records[0] if len(records) == 1 else {"scenarios": records}
        print(json.dumps(payload, indent=2))
    else:
        print(format_projection_table(models))
        if args.html:
            print(f"\nHTML report: {args.html}")
    return 0


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc


PROJECTION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("requests_per_day", "API requests / day", "{:,.0f}"),
    ("avg_rps", "average RPS", "{:,.1f}"),
    ("peak_rps", "peak RPS", "{:,.1f}"),
    ("syncs_per_day", "hot-path syncs / day", "{:,.0f}"),
    ("avg_syncs_per_s", "average syncs / s", "{:,.1f}"),
    ("peak_syncs_per_s", "peak syncs / s", "{:,.1f}"),
    ("peak_read_qps", "peak DynamoDB read QPS", "{:,.1f}"),
    ("peak_write_qps", "peak DynamoDB write QPS", "{:,.1f}"),
    ("billed_peak_write_qps", "billed peak write QPS (Global Table)", "{:,.1f}"),
    ("peak_cache_ops_per_s", "peak Redis ops / s", "{:,.1f}"),
    ("cache_nodes", "Redis nodes", "{:,.0f}"),
    ("egress_gb_per_day", "egress GB / day", "{:,.1f}"),
    ("egress_tb_per_month", "egress TB / month", "{:,.2f}"),
    ("worker_concurrency", "peak concurrent workers", "{:,.1f}"),
)


def format_projection_table(models: Sequence[TrafficModel]) -> str:
    projections = [project(model) for model in models]
    costs = [monthly_cost(p) for p in projections]
    header = ["", *[f"{m.name} ({m.dau:,} DAU)" for m in models]]
    rows: list[list[str]] = [header]
    for name in PARAMETER_NAMES:
        rows.append([name, *[_format_parameter(name, getattr(m, name)) for m in models]])
    rows.append(["", *["" for _ in models]])
    for key, label, fmt in PROJECTION_ROWS:
        rows.append([label, *[fmt.format(getattr(p, key)) for p in projections]])
    rows.append(["", *["" for _ in models]])
    for category, label in CATEGORY_LABELS.items():
        rows.append([label, *[f"${c.by_category()[category]:,.0f}" for c in costs]])
    rows.append(["monthly cost, on demand", *[f"${c.total_usd:,.0f}" for c in costs]])
    rows.append(["monthly cost, 3-yr Lambda savings plan", *[f"${c.savings_plan_total_usd:,.0f}" for c in costs]])
    seeds = seed_stated_figures()
    if all(model.name in seeds and model == get_model(model.name) for model in models):
        rows.append(["seed 004 §9 says (on demand)", *[f"~${seeds[m.name]['monthly_cost_usd']:,.0f}" for m in models]])
    text = _align(rows)
    if len(models) == 1:
        text += "\n\n" + format_cost_lines(costs[0])
    return text


def _format_parameter(name: str, value: float) -> str:
    if name in ("write_read_ratio", "peak_to_average"):
        return format_ratio(value)
    if name == "heavy_share":
        return f"{value:.1%}"
    return f"{value:,.4g}"


def format_cost_lines(cost: CostBreakdown) -> str:
    rows = [["line item", "quantity / month", "unit price", "cost", "seed 004 §9"]]
    for line in cost.lines:
        per = "" if line.per_units == 1 else f" per {line.per_units:,.0f}"
        rows.append(
            [
                line.service,
                f"{line.quantity:,.0f} {line.unit}",
                f"${line.unit_price_usd:g}{per}",
                f"${line.cost_usd:,.2f}",
                f"${line.seed_cost_usd:,.0f}",
            ]
        )
    rows.append(["TOTAL (on demand)", "", "", f"${cost.total_usd:,.2f}", ""])
    return _align(rows)


def _align(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- fit / beta


def _register_fit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="estimate the traffic model from beta telemetry and cost the deviations",
        description="Estimate sessions/user/day, requests/session, syncs/user/day, write/read ratio, "
        "peak-to-average ratio, payload sizes and heavy share from beta telemetry, with bootstrap confidence "
        "intervals (resampling users); place them against the Conservative / Nominal / Aggressive scenarios, "
        "name the deviations that matter in money, and project capacity and cost to 1M DAU.",
        epilog=FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("beta_file", type=Path, metavar="BETA_FILE", help="telemetry, .jsonl or .csv")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a report")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML report")
    parser.add_argument("--skip-bad", action="store_true", help="skip malformed rows (counted and reported)")
    parser.add_argument("--format", choices=("jsonl", "csv"), help="file format (default: from the extension)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (1000)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval confidence level (0.95)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (0)")
    parser.add_argument("--dau", type=int, default=1_000_000, help="DAU to project to (1,000,000)")
    parser.add_argument(
        "--heavy-threshold-kb",
        type=float,
        help="payloads at or above this size count as heavy (default: geometric mean of Nominal light and "
        "heavy sizes, 50 KB)",
    )
    parser.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from sim.beta.commands import run_fit as run

    return run(args)


def _register_beta(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "beta",
        help="beta telemetry tools (generate a synthetic beta file)",
        description="Tools for beta telemetry files (format: sim/beta/FORMAT.md).",
    )
    beta_subparsers = parser.add_subparsers(dest="beta_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    generate = beta_subparsers.add_parser(
        "generate",
        help="write a synthetic beta telemetry file with known (optionally planted) parameters",
        description="Write synthetic beta telemetry drawn from a traffic model, with deviations planted on "
        "purpose, and its ground truth next to it (FILE.truth.json).",
        epilog="example:\n  swsim capacity beta generate --out beta.jsonl --users 2000 --days 7 --seed 1 "
        "--plant heavy_share=0.2 --plant requests_per_session=20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("--out", type=Path, required=True, metavar="FILE", help="output .jsonl or .csv")
    generate.add_argument("--users", type=int, required=True, help="number of beta users")
    generate.add_argument("--days", type=int, required=True, help="number of days of telemetry")
    generate.add_argument("--seed", type=int, required=True, help="random seed (same seed, same file)")
    generate.add_argument("--model", default="nominal", help="base traffic model (nominal)")
    generate.add_argument(
        "--plant",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help=f"replace a parameter of the base model (repeatable): {', '.join(PARAMETER_NAMES)}",
    )
    generate.add_argument("--format", choices=("jsonl", "csv"), help="file format (default: from the extension)")
    generate.set_defaults(func=run_beta_generate)


def run_beta_generate(args: argparse.Namespace) -> int:
    from sim.beta.commands import run_generate

    return run_generate(args)


# ----------------------------------------------------------------------------------------------- schedule


def _register_schedule(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="arrival rates per kind over time for a replay, and sample arrival events",
        description="Show what a load run of a traffic model would send: the arrival rate of every kind of "
        "request per time bucket, following a diurnal profile with the model's peak-to-average ratio, "
        "and optionally the first arrival events (a seeded non-homogeneous Poisson process).",
        epilog="examples:\n"
        "  swsim capacity schedule --dau 1000 --duration 3600          # one day in one hour\n"
        "  swsim capacity schedule --dau 1000 --compression 1 --duration 600 --offset-hours 20 --events 10\n"
        "  swsim capacity schedule --model aggressive --dau 500 --duration 1800 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="nominal", help=f"one of {', '.join(model_names())}")
    parser.add_argument("--dau", type=int, required=True, help="simulated daily active users")
    parser.add_argument("--compression", type=float, help="simulated seconds per wall second (24 = a day per hour)")
    parser.add_argument("--duration", type=float, help="wall seconds to play (alone: one whole day in that time)")
    parser.add_argument("--offset-hours", type=float, default=0.0, help="start at this hour of the simulated day")
    parser.add_argument("--buckets", type=int, default=24, help="diurnal buckets per day (24)")
    parser.add_argument("--events", type=int, default=0, metavar="N", help="also print the first N arrival events")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled events (0)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_schedule)


def run_schedule(args: argparse.Namespace) -> int:
    from itertools import islice

    from sim.schedule import build_rate_profile, generate_arrivals

    if args.events < 0:
        raise UsageError(f"--events must be >= 0, got {args.events}")
    profile = build_rate_profile(
        get_model(args.model),
        dau=args.dau,
        compression=args.compression,
        duration_s=args.duration,
        day_offset_s=args.offset_hours * 3600.0,
        buckets_per_day=args.buckets,
    )
    events = list(islice(generate_arrivals(profile, seed=args.seed), args.events))
    if args.json:
        payload = {
            "model": profile.model.name,
            "dau": profile.dau,
            "compression": profile.compression,
            "duration_s": profile.duration_s,
            "peak_to_average": profile.peak_to_average(),
            "peak_api_rate_per_user": profile.peak_api_rate_per_user(),
            "kinds": list(profile.kinds),
            "expected_counts": profile.expected_counts(),
            "segments": [
                {"start_s": float(start), "length_s": float(length), "multiplier": float(mult),
                 "rates_per_s": [float(r) for r in row]}
                for start, length, mult, row in zip(profile.segment_start_s, profile.segment_length_s,
                                                    profile.segment_multiplier, profile.rates)
            ],
            "events": [
                {"at_s": e.at_s, "kind": e.kind, "user_index": e.user_index, "payload_bytes": e.payload_bytes}
                for e in events
            ],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(
        f"{profile.model.name} at {profile.dau:,} DAU, compression {profile.compression:g} "
        f"({profile.duration_s:,.0f} s of wall time), peak/avg {profile.peak_to_average():.2f}, "
        f"peak API rate per user {profile.peak_api_rate_per_user():.3g} req/s"
    )
    rows = [["kind", "expected events", "mean rate / s", "peak rate / s"]]
    total_time = float(profile.segment_length_s.sum())
    for kind, count in profile.expected_counts().items():
        rows.append([kind, f"{count:,.0f}", f"{count / total_time:,.3f}", f"{profile.rate_of(kind).max():,.3f}"])
    print(_align(rows))
    if events:
        print()
        print(_align([["at_s", "kind", "user_index", "payload_bytes"]]
                     + [[f"{e.at_s:.3f}", e.kind, str(e.user_index), str(e.payload_bytes)] for e in events]))
    return 0
