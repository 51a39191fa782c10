"""A self-contained HTML page for one simulation: summary tables and an inline SVG chart (no scripts, no CDN)."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass

import numpy as np

from sim.queueing.result import QueueSimResult

WIDTH, HEIGHT = 960, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 70, 20, 40
MAX_POINTS = 2000  # more points than pixels only bloats the file


@dataclass(frozen=True)
class Series:
    label: str
    values: np.ndarray
    color: str
    axis: str  # "left" or "right"


def render_html(result: QueueSimResult, title: str = "SyncWell hot path: queueing simulation") -> str:
    summary = result.to_summary()
    series = result.series
    hours = (series.time_s - result.start_s) / 3600.0
    chart = svg_chart(
        hours,
        [
            Series("queue depth (max per interval)", series.depth_max.astype(float), "#1f77b4", "left"),
            Series("concurrency (max per interval)", series.concurrency_max.astype(float), "#d62728", "right"),
            Series("concurrency limit", series.concurrency_limit.astype(float), "#ff9896", "right"),
        ],
        left_label="visible messages",
        right_label="invocations",
    )
    rows = [
        ("arrivals", f"{summary['arrivals']:,}"),
        ("succeeded", f"{summary['succeeded']:,}"),
        ("dead-lettered", f"{summary['dead_lettered']:,} ({summary['dlq_rate']:.4%})"),
        ("in flight at end", f"{summary['in_flight_at_end']:,}"),
        ("token-bucket refusals", f"{summary['refusals']:,}"),
        ("wait p50 / p95 / p99", _triple(summary["wait"])),
        ("end-to-end p50 / p95 / p99", _triple(summary["end_to_end"])),
        ("max queue depth", f"{summary['max_queue_depth']:,}"),
        ("max concurrency", f"{summary['max_concurrency']:,}"),
        ("invocations", f"{summary['cost']['invocations']:,}"),
        ("Lambda cost per day / 30 days", f"${summary['cost']['total_usd_per_day']:,.2f} / ${summary['cost']['total_usd_per_30_days']:,.2f}"),
    ]
    table = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    raw = html.escape(json.dumps(summary, indent=2))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Engine: {html.escape(summary['engine'])}, pool: {html.escape(summary['pool'])}, simulated {summary['simulated_s'] / 3600:.2f} h.</p>
{chart}
<table>{table}</table>
<h2>Summary (JSON)</h2><pre>{raw}</pre>
</body></html>
"""


def _triple(latency: dict) -> str:
    return f"{latency['p50_s']:.3f} s / {latency['p95_s']:.3f} s / {latency['p99_s']:.3f} s"


def svg_chart(x: np.ndarray, lines: list[Series], left_label: str, right_label: str, x_unit: str = "h") -> str:
    if x.size == 0:
        return "<p>(no samples)</p>"
    step = max(1, int(np.ceil(x.size / MAX_POINTS)))
    x = x[::step]
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    x_min, x_max = float(x[0]), float(x[-1]) if x[-1] > x[0] else float(x[0]) + 1.0
    tops = {axis: max([float(np.max(s.values)) for s in lines if s.axis == axis] + [1.0]) for axis in ("left", "right")}

    def px(value: float) -> float:
        return MARGIN_LEFT + (value - x_min) / (x_max - x_min) * plot_w

    def py(value: float, axis: str) -> float:
        return MARGIN_TOP + plot_h - value / tops[axis] * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 30}" role="img">']
    parts.append(f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for line in lines:
        values = _reduce_max(line.values, step)
        points = " ".join(f"{px(float(a)):.1f},{py(float(b), line.axis):.1f}" for a, b in zip(x, values))
        parts.append(f'<polyline fill="none" stroke="{line.color}" stroke-width="1.5" points="{points}"><title>{html.escape(line.label)}</title></polyline>')
    for fraction in (0.0, 0.5, 1.0):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tops["left"] * fraction:,.0f}</text>')
        parts.append(f'<text x="{WIDTH - MARGIN_RIGHT + 6}" y="{y + 4:.1f}" font-size="11">{tops["right"] * fraction:,.0f}</text>')
        xv = x_min + (x_max - x_min) * fraction
        parts.append(f'<text x="{px(xv):.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle" font-size="11">{xv:.2f} {x_unit}</text>')
    parts.append(f'<text x="14" y="{MARGIN_TOP + plot_h / 2}" font-size="12" transform="rotate(-90 14 {MARGIN_TOP + plot_h / 2})" text-anchor="middle">{html.escape(left_label)}</text>')
    parts.append(f'<text x="{WIDTH - 10}" y="{MARGIN_TOP + plot_h / 2}" font-size="12" transform="rotate(90 {WIDTH - 10} {MARGIN_TOP + plot_h / 2})" text-anchor="middle">{html.escape(right_label)}</text>')
    legend_x = MARGIN_LEFT
    for line in lines:
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT + 8}" width="12" height="12" fill="{line.color}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{HEIGHT + 18}" font-size="12">{html.escape(line.label)}</text>')
        legend_x += 16 + 7 * len(line.label) + 24
    parts.append("</svg>")
    return "\n".join(parts)


def _reduce_max(values: np.ndarray, step: int) -> np.ndarray:
    """Down-sample by taking each group's maximum, so a spike survives the thinning."""
    if step == 1:
        return values
    groups = int(np.ceil(values.size / step))
    padded = np.full(groups * step, -np.inf)
    padded[: values.size] = values
    return padded.reshape(groups, step).max(axis=1)
