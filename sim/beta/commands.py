"""The edge of ``swsim capacity fit`` and ``swsim capacity beta generate``: arguments in, files and text out."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from sim.beta.estimate import fit_telemetry
from sim.beta.placement import FitReport, build_fit_report
from sim.beta.synthetic import BetaTruth, generate_beta
from sim.beta.telemetry import detect_format, read_telemetry, write_telemetry
from sim.commands.capacity import format_projection_table
from sim.cost import model_cost
from sim.errors import UsageError
from sim.models import PARAMETER_LABELS, format_ratio, get_model, parse_parameter_assignments


MAX_SYNTHETIC_EVENTS = 20_000_000  # the generator holds all columns in memory (~100 bytes per event)
EXPECTED_ACTIVE_SHARE = 0.75       # mean of the synthetic users' daily activity probability


def truth_path(out: Path) -> Path:
    return out.with_name(out.name + ".truth.json")


def run_generate(args: argparse.Namespace) -> int:
    if args.users < 1 or args.days < 1:
        raise UsageError(f"--users and --days must be >= 1 (got {args.users} and {args.days})")
    planted = parse_parameter_assignments(args.plant, "--plant")
    planted.pop("dau", None)  # a beta has its own number of users
    model = get_model(args.model).with_overrides(**planted)
    fmt = detect_format(args.out, args.format)
    expected_events = args.users * args.days * EXPECTED_ACTIVE_SHARE * (
        model.sessions_per_user_per_day * (1 + model.requests_per_session) + 2 * model.syncs_per_user_per_day
    )
    if expected_events > MAX_SYNTHETIC_EVENTS:
        raise UsageError(
            f"--users {args.users} x --days {args.days} would make ~{expected_events:,.0f} events (limit "
            f"{MAX_SYNTHETIC_EVENTS:,}); a few thousand users over a week or two is plenty for tight intervals"
        )
    rows = write_telemetry(generate_beta(model, args.users, args.days, args.seed), args.out, fmt)
    truth = BetaTruth(model.name, args.users, args.days, args.seed, model.parameters(), planted)
    truth_file = truth_path(args.out)
    try:
        truth_file.write_text(json.dumps(truth.as_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {truth_file}: {exc.strerror}") from exc
    print(f"wrote {rows:,} events of {args.users:,} users over {args.days} days to {args.out}")
    print(f"ground truth: {truth_file}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    if args.dau < 1:
        raise UsageError(f"--dau must be >= 1, got {args.dau}")
    telemetry = read_telemetry(args.beta_file, args.format, args.skip_bad)
    fit = fit_telemetry(
        telemetry,
        bootstrap=args.bootstrap,
        confidence=args.confidence,
        seed=args.seed,
        heavy_threshold_kb=args.heavy_threshold_kb,
    )
    report = build_fit_report(fit, args.dau, str(args.beta_file), telemetry.skipped_rows, telemetry.errors)
    if args.html:
        from reports.capacity_html import render_fit_report

        try:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(render_fit_report(report), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.html}: {exc.strerror}") from exc
    if args.json:
        print(json.dumps(_without_nan(report.as_dict()), indent=2, allow_nan=False))
    else:
        print(format_fit_report(report))
        if args.html:
            print(f"\nHTML report: {args.html}")
    return 0


def _without_nan(value: object) -> object:
    """JSON has no NaN: an estimate without data (e.g. no heavy payloads at all) becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    return value


def _value(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if name in ("write_read_ratio", "peak_to_average"):
        return format_ratio(value)
    if name == "heavy_share":
        return f"{value:.2%}"
    return f"{value:,.4g}"


def format_fit_report(report: FitReport) -> str:
    fit = report.fit
    lines = [
        f"beta fit of {report.source}: {fit.users:,} users, {fit.user_days:,} active user-days, "
        f"{fit.events:,} events over {fit.days_observed:.1f} days; sync success {fit.sync_success_rate:.2%}",
    ]
    if report.skipped_rows:
        lines.append(f"skipped {report.skipped_rows} bad rows; first: {report.bad_rows[0]}")
    lines.append(f"{fit.confidence:.0%} intervals: percentile bootstrap over users, {fit.bootstrap} resamples")
    lines.append("")
    header = ["parameter", "fit", "interval", "conservative", "nominal", "aggressive", "placement"]
    rows = [header]
    for placement in report.placements:
        name = placement.parameter
        estimate = fit.estimates[name]
        rows.append(
            [
                PARAMETER_LABELS[name],
                _value(name, estimate.value),
                f"[{_value(name, estimate.low)}, {_value(name, estimate.high)}]",
                *[_value(name, placement.scenario_values[s]) for s in ("conservative", "nominal", "aggressive")],
                placement.position,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) if i in (0, 6) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    lines.append("")
    lines.append(f"closest scenario: {report.closest_scenario}")
    lines.append("")
    lines.append(f"deviations that matter (each alone, against Nominal at {report.dau:,} DAU):")
    if report.deviations:
        lines.extend(f"  - {d.message}" for d in report.deviations)
    else:
        lines.append("  none: every parameter is consistent with Nominal or moves the cost by < 1 %")
    lines.append("")
    nominal_cost = model_cost(report.projected_models[1]).total_usd
    fitted_cost = model_cost(report.fitted_model).total_usd
    lines.append(
        f"all fitted parameters together: ${fitted_cost:,.0f}/month vs Nominal ${nominal_cost:,.0f} "
        f"({'+' if fitted_cost >= nominal_cost else '-'}${abs(fitted_cost - nominal_cost):,.0f}/month)"
    )
    lines.append("")
    lines.append(f"projection to {report.dau:,} DAU (seed 004 §2 capacity and §9 monthly cost):")
    lines.append(format_projection_table(report.projected_models))
    lines.append("")
    lines.append("sensitivity of the fitted cost ($/month for +10 % of one parameter; range over the scenarios' values):")
    for row in report.sensitivity:
        lines.append(
            f"  {PARAMETER_LABELS[row.parameter]:<28} {row.plus_10pct_delta_usd:>+9,.0f}   "
            f"${row.low_cost_usd:,.0f} .. ${row.high_cost_usd:,.0f}"
        )
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
