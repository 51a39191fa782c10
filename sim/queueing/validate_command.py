"""``swsim capacity validate RUN_DIR``: the queueing simulator's prediction against a measured local run.

``register(capacity_subparsers)`` adds the subcommand under ``swsim capacity`` (sim/commands/capacity.py calls it).
"""
from __future__ import annotations

import argparse
import html
import json
import math
from pathlib import Path

import numpy as np

from sim.errors import UsageError
from sim.queueing.html_report import Series, svg_chart
from sim.queueing.measured import SYNC_JOBS_FILE, load_measured_run
from sim.queueing.validate import Tolerance, ValidationReport, validate_run

DESCRIPTION = f"""\
Replay a measured run through the queueing simulator and compare prediction with measurement.

RUN_DIR is a directory written by 'swsim load --out RUN_DIR' against the embedded stack (or --stack-state):
besides summary.json (whose queue_depth series is the SQS depth sampled during the run) it holds
{SYNC_JOBS_FILE}, every sync job's enqueue and completion instants and the worker pool's size. The simulator
gets those arrivals, a fixed pool of that many pollers taking batches of up to 10, and the run's service times
(reconstructed per batch from the completions and resampled), and runs --replications times.

Verdict (exit 0 within tolerance, 1 outside, 2 usage error):
- p95 and p99 of enqueue -> SUCCEEDED: the prediction must fall inside the measured percentile's 95 % bootstrap
  interval widened by --latency-tolerance (default 25 %): small runs get wide intervals, large runs narrow ones;
- queue depth over time: the mean absolute difference between measured and predicted depth at the sample
  instants must be at most max(--depth-abs, --depth-relative x the measured peak) (defaults 2 messages, 25 %).
The reasons for these numbers are in sim/queueing/validate.py."""

EPILOG = """\
examples:
  swsim load --dau 2000 --duration 90 --users 50 --out runs/demo  # (make demo) a measured run
  swsim capacity validate runs/demo                                # side-by-side table, exit 0/1
  swsim capacity validate runs/demo --json --html runs/demo/validate.html"""


def register(capacity_subparsers: argparse._SubParsersAction) -> None:
    parser = capacity_subparsers.add_parser(
        "validate", help="compare the simulator's prediction with a measured swsim load run",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a swsim load --out directory")
    parser.add_argument("--replications", type=int, default=20, help="simulations with different seeds (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--latency-tolerance", type=float, default=0.25, metavar="FRACTION",
                        help="widening of the measured percentile's bootstrap interval (default 0.25)")
    parser.add_argument("--depth-abs", type=float, default=2.0, metavar="MESSAGES",
                        help="allowed mean absolute queue-depth error, floor (default 2)")
    parser.add_argument("--depth-relative", type=float, default=0.25, metavar="FRACTION",
                        help="allowed mean absolute queue-depth error as a share of the measured peak (default 0.25)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--html", type=Path, metavar="FILE",
                        help="write an HTML report with charts (default RUN_DIR/validate.html)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.replications < 1:
        raise UsageError("--replications must be >= 1")
    if min(args.latency_tolerance, args.depth_abs, args.depth_relative) < 0:
        raise UsageError("tolerances must be >= 0")
    measured = load_measured_run(args.run_dir)
    tolerance = Tolerance(relative=args.latency_tolerance, depth_abs=args.depth_abs,
                          depth_relative=args.depth_relative)
    try:
        report = validate_run(measured, tolerance=tolerance, replications=args.replications, seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"{args.run_dir}: {exc}") from exc
    html_path = args.html or args.run_dir / "validate.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_validation_html(report))
    if args.json:
        print(json.dumps(_finite(report.to_json()), indent=2, default=_json_default))
    else:
        print(render_text(report))
        print(f"HTML report: {html_path}")
    return report.exit_code


def render_text(report: ValidationReport) -> str:
    lines = [f"validate {report.run_dir}: {report.jobs} jobs ({report.succeeded_measured} succeeded), "
             f"{report.worker_concurrency} pollers x batches of {report.batch_size}, {report.batches} batches "
             f"(mean {report.mean_batch_size:.2f} jobs), service per job mean {report.service_ms['mean']:.0f} ms "
             f"p95 {report.service_ms['p95']:.0f} ms + {report.service_ms['batch_overhead']:.0f} ms per batch; "
             f"{report.replications} replications",
             "", f"{'metric':22s} {'measured':>10s} {'95% interval':>19s} {'allowed':>19s} {'predicted':>10s}  verdict"]
    for check in report.latency:
        lines.append(f"{'sync latency p%g (s)' % check.percentile:22s} {check.measured_s:10.3f} "
                     f"{_pair(check.interval_s):>19s} {_pair(check.allowed_s):>19s} {check.predicted_s:10.3f}  "
                     f"{'PASS' if check.passed else 'FAIL'}")
    d = report.depth
    lines.append(f"{'queue depth MAE (msgs)':22s} {'':10s} {'':>19s} {'<= %.2f' % d.allowed:>19s} "
                 f"{d.mean_abs_error:10.2f}  {'PASS' if d.passed else 'FAIL'}")
    lines.append(f"{'queue depth peak':22s} {d.measured_peak:10.0f} {'':>19s} {'':>19s} {d.predicted_peak:10.0f}")
    lines.append("")
    lines.append("PASS: the prediction is within tolerance" if report.passed else
                 "FAIL: the prediction is outside tolerance (see the rows marked FAIL)")
    return "\n".join(lines)


def render_validation_html(report: ValidationReport) -> str:
    times = np.array(report.series_time_s)
    chart = svg_chart(times, [
        Series("measured queue depth (SQS visible + delayed)", np.array(report.series_measured), "#1f77b4", "left"),
        Series("predicted queue depth (median of replications)", np.array(report.series_predicted), "#d62728", "left"),
    ], left_label="messages", right_label="", x_unit="s") if times.size else "<p>(no queue samples)</p>"
    keys = list(report.latency_measured_s)
    bars = _percentile_bars(keys, [report.latency_measured_s[k] for k in keys],
                            [report.latency_predicted_s[k] for k in keys])
    rows = "".join(
        f"<tr><th>p{c.percentile:g} sync latency</th><td>{c.measured_s:.3f} s</td><td>{_pair(c.interval_s)}</td>"
        f"<td>{_pair(c.allowed_s)}</td><td>{c.predicted_s:.3f} s ({_pair(c.predicted_range_s)})</td>"
        f"<td>{'PASS' if c.passed else '<b>FAIL</b>'}</td></tr>" for c in report.latency)
    d = report.depth
    rows += (f"<tr><th>queue depth, mean abs. error</th><td>peak {d.measured_peak:.0f}</td><td></td>"
             f"<td>&le; {d.allowed:.2f}</td><td>{d.mean_abs_error:.2f} (peak {d.predicted_peak:.0f})</td>"
             f"<td>{'PASS' if d.passed else '<b>FAIL</b>'}</td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    raw = html.escape(json.dumps(report.to_json(), indent=2, default=_json_default))
    verdict = "PASS: within tolerance" if report.passed else "FAIL: outside tolerance"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Capacity validation: {html.escape(report.run_dir)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>Queueing model vs measured run: {html.escape(verdict)}</h1>
<p>{html.escape(report.run_dir)}: {report.jobs} sync jobs ({report.succeeded_measured} succeeded; predicted
{report.succeeded_predicted}), {report.worker_concurrency} pollers x batches of {report.batch_size},
{report.batches} batches (mean {report.mean_batch_size:.2f} jobs); reconstructed service time per job: mean
{report.service_ms['mean']:.0f} ms, p95 {report.service_ms['p95']:.0f} ms; {report.replications} replications.</p>
<h2>Queue depth over time (seconds since the sampler started)</h2>
{chart}
<h2>Sync latency percentiles (enqueue to SUCCEEDED)</h2>
{bars}
<table><tr><th>metric</th><th>measured</th><th>95% bootstrap interval</th><th>allowed</th><th>predicted (range)</th><th>verdict</th></tr>
{rows}</table>
<h2>Tolerance</h2>
<p>Latency: the measured percentile's 95% bootstrap interval widened by {report.tolerance.relative:.0%};
queue depth: mean absolute error at most max({report.tolerance.depth_abs:g} messages,
{report.tolerance.depth_relative:.0%} of the measured peak). Why: sim/queueing/validate.py.</p>
<ul>{notes}</ul>
<h2>Report (JSON)</h2><pre>{raw}</pre>
</body></html>
"""


def _percentile_bars(labels: list[str], measured: list[float], predicted: list[float]) -> str:
    width, height, left, bottom = 520, 220, 60, 30
    top = max([v for v in measured + predicted if math.isfinite(v)] + [1e-9]) * 1.1
    group = (width - left) / max(len(labels), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 24}" role="img">']
    for i, (label, m, p) in enumerate(zip(labels, measured, predicted)):
        for j, (value, color) in enumerate(((m, "#1f77b4"), (p, "#d62728"))):
            value = value if math.isfinite(value) else 0.0
            h = value / top * (height - bottom)
            x = left + i * group + 10 + j * (group / 2 - 10)
            parts.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{group / 2 - 14:.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{value:.3f} s</title></rect>')
            parts.append(f'<text x="{x + (group / 2 - 14) / 2:.1f}" y="{height - bottom - h - 4:.1f}" font-size="11" '
                         f'text-anchor="middle">{value:.2f}</text>')
        parts.append(f'<text x="{left + i * group + group / 2:.1f}" y="{height - 10}" font-size="12" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    parts.append(f'<text x="4" y="14" font-size="11">seconds</text>')
    parts.append(f'<rect x="{left}" y="{height + 8}" width="12" height="12" fill="#1f77b4"/>'
                 f'<text x="{left + 16}" y="{height + 18}" font-size="12">measured</text>'
                 f'<rect x="{left + 100}" y="{height + 8}" width="12" height="12" fill="#d62728"/>'
                 f'<text x="{left + 116}" y="{height + 18}" font-size="12">predicted</text></svg>')
    return "\n".join(parts)


def _pair(values: tuple[float, float]) -> str:
    return f"{values[0]:.3f}-{values[1]:.3f} s"


def _finite(value: object) -> object:
    """NaN (a percentile of nothing) as null: strict JSON readers reject NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
