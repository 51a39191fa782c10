"""Self-contained HTML reports for ``swsim capacity project`` and ``swsim capacity fit``.

One file, no CDN, no JavaScript: tables plus inline SVG charts drawn here (bars, lines, intervals).
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from sim.capacity import project
from sim.cost import CATEGORY_LABELS, CostBreakdown, Sensitivity, monthly_cost
from sim.models import PARAMETER_LABELS, PARAMETER_NAMES, TrafficModel, format_ratio, get_model, seed_stated_figures
from sim.schedule import build_rate_profile

if TYPE_CHECKING:  # imported for type hints only; sim.beta imports nothing from here
    from sim.beta.placement import FitReport

HOUR_TICKS = (0, 4, 8, 12, 16, 20, 24)
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}.note{color:#555;font-size:.9em}.bad{color:#b00}.good{color:#070}
svg{display:block;margin:.5em 0}svg text{font-size:11px;fill:#333}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ----------------------------------------------------------------------------------------------- SVG charts


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


def svg_bar_chart(
    labels: Sequence[str], series: Sequence[Series], unit: str = "", prefix: str = "", width: int = 760
) -> str:
    """Horizontal grouped bars: one group per label, one bar per series."""
    bar_h, gap, left, right = 14, 10, 260, 90
    group_h = bar_h * len(series) + gap
    height = group_h * len(labels) + 30 + 18 * len(series)
    top_value = max([v for s in series for v in s.values] + [1e-12])
    scale = (width - left - right) / top_value
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    for i, label in enumerate(labels):
        y0 = 10 + i * group_h
        parts.append(f"<text x='{left - 6}' y='{y0 + group_h / 2}' text-anchor='end'>{_e(label)}</text>")
        for j, s in enumerate(series):
            value = s.values[i]
            y = y0 + j * bar_h
            w = max(0.0, value * scale)
            parts.append(
                f"<rect x='{left}' y='{y}' width='{w:.1f}' height='{bar_h - 2}' fill='{PALETTE[j % len(PALETTE)]}'>"
                f"<title>{_e(s.label)}: {_e(prefix)}{value:,.2f}{_e(unit)}</title></rect>"
                f"<text x='{left + w + 4:.1f}' y='{y + bar_h - 4}'>{_e(prefix)}{value:,.0f}{_e(unit)}</text>"
            )
    parts.append(_legend([s.label for s in series], left, height - 18 * len(series) + 4))
    parts.append("</svg>")
    return "".join(parts)


def _legend(labels: Sequence[str], x: float, y: float) -> str:
    items = []
    for j, label in enumerate(labels):
        items.append(
            f"<rect x='{x}' y='{y + 18 * j}' width='10' height='10' fill='{PALETTE[j % len(PALETTE)]}'/>"
            f"<text x='{x + 14}' y='{y + 18 * j + 9}'>{_e(label)}</text>"
        )
    return "".join(items)


def svg_line_chart(
    x: Sequence[float],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    x_ticks: Sequence[float] | None = None,
    width: int = 760,
    height: int = 260,
) -> str:
    """Lines over a shared x axis (step-free polyline through the points)."""
    left, right, top, bottom = 60, 20, 15, 45 + 16 * len(series)
    plot_w, plot_h = width - left - right, height - top - bottom
    x_min, x_max = min(x), max(x)
    y_max = max([v for s in series for v in s.values] + [1e-12]) * 1.05

    def px(value: float) -> float:
        return left + (value - x_min) / ((x_max - x_min) or 1) * plot_w

    if x_ticks is not None:
        x_min, x_max = min(x_min, min(x_ticks)), max(x_max, max(x_ticks))

    def py(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    parts.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#ccc'/>")
    for k in range(5):
        value = y_max * k / 4
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{py(value):.1f}' y2='{py(value):.1f}' stroke='#eee'/>"
            f"<text x='{left - 4}' y='{py(value) + 4:.1f}' text-anchor='end'>{value:,.3g}</text>"
        )
    ticks = x_ticks if x_ticks is not None else [x_min + (x_max - x_min) * k / 6 for k in range(7)]
    for value in ticks:
        parts.append(f"<text x='{px(value):.1f}' y='{top + plot_h + 14}' text-anchor='middle'>{value:,.3g}</text>")
    parts.append(f"<text x='{left + plot_w / 2}' y='{top + plot_h + 30}' text-anchor='middle'>{_e(x_label)}</text>")
    parts.append(f"<text x='12' y='{top + plot_h / 2}' transform='rotate(-90 12 {top + plot_h / 2})' "
                 f"text-anchor='middle'>{_e(y_label)}</text>")
    for j, s in enumerate(series):
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, s.values))
        parts.append(f"<polyline fill='none' stroke='{PALETTE[j % len(PALETTE)]}' stroke-width='2' points='{points}'/>")
    parts.append(_legend([s.label for s in series], left, top + plot_h + 38))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class IntervalRow:
    label: str
    estimate: float
    low: float
    high: float
    markers: dict[str, float]  # scenario name -> value


def svg_interval_chart(rows: Sequence[IntervalRow], width: int = 760) -> str:
    """One line per parameter, each on its own scale (0 .. max of everything on that line): the estimate with
    its confidence interval as a whisker, scenario values as labelled ticks."""
    left, right, row_h = 200, 30, 34
    height = row_h * len(rows) + 20
    plot_w = width - left - right
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    for i, row in enumerate(rows):
        y = 18 + i * row_h
        top_value = max([row.high, row.estimate, *row.markers.values(), 1e-12]) * 1.1

        def px(value: float) -> float:
            return left + value / top_value * plot_w

        parts.append(f"<text x='{left - 8}' y='{y + 4}' text-anchor='end'>{_e(row.label)}</text>")
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y}' y2='{y}' stroke='#eee'/>")
        for j, (name, value) in enumerate(row.markers.items()):
            parts.append(
                f"<line x1='{px(value):.1f}' x2='{px(value):.1f}' y1='{y - 8}' y2='{y + 8}' "
                f"stroke='{PALETTE[(j + 1) % len(PALETTE)]}' stroke-width='2'><title>{_e(name)}: {value:g}</title></line>"
                f"<text x='{px(value):.1f}' y='{y + 18}' text-anchor='middle' font-size='9'>{_e(name[:4])}</text>"
            )
        parts.append(
            f"<line x1='{px(row.low):.1f}' x2='{px(row.high):.1f}' y1='{y}' y2='{y}' stroke='#222' stroke-width='3'/>"
            f"<circle cx='{px(row.estimate):.1f}' cy='{y}' r='4' fill='{PALETTE[0]}'>"
            f"<title>fit {row.estimate:g} [{row.low:g}, {row.high:g}]</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------------------------------------- projection report


def _format_parameter(name: str, value: float) -> str:
    if name in ("write_read_ratio", "peak_to_average"):
        return format_ratio(value)
    if name == "heavy_share":
        return f"{value:.1%}"
    return f"{value:,.4g}"


CAPACITY_ROWS: tuple[tuple[str, str], ...] = (
    ("requests_per_day", "API requests / day"),
    ("avg_rps", "average RPS"),
    ("peak_rps", "peak RPS"),
    ("syncs_per_day", "syncs / day"),
    ("avg_syncs_per_s", "average syncs / s"),
    ("peak_syncs_per_s", "peak syncs / s"),
    ("peak_read_qps", "peak read QPS"),
    ("peak_write_qps", "peak write QPS"),
    ("billed_peak_write_qps", "billed peak write QPS"),
    ("peak_cache_ops_per_s", "peak cache ops / s"),
    ("egress_gb_per_day", "egress GB / day"),
    ("egress_tb_per_month", "egress TB / month"),
    ("worker_concurrency", "peak concurrent workers"),
)


def capacity_and_cost_sections(models: Sequence[TrafficModel]) -> str:
    """Parameter, capacity and cost tables plus charts for several models side by side."""
    projections = [project(model) for model in models]
    costs = [monthly_cost(p) for p in projections]
    names = [f"{m.name} ({m.dau:,} DAU)" for m in models]
    parameter_rows = [
        [_e(PARAMETER_LABELS[name]), *[_e(_format_parameter(name, getattr(m, name))) for m in models]]
        for name in PARAMETER_NAMES
    ]
    capacity_rows = [
        [_e(label), *[f"{getattr(p, key):,.1f}" for p in projections]] for key, label in CAPACITY_ROWS
    ]
    seeds = seed_stated_figures()
    cost_rows = [[_e(label), *[_money(c.by_category()[key]) for c in costs]] for key, label in CATEGORY_LABELS.items()]
    cost_rows.append(["<b>total, on demand</b>", *[f"<b>{_money(c.total_usd)}</b>" for c in costs]])
    cost_rows.append(["with 3-yr Lambda savings plan", *[_money(c.savings_plan_total_usd) for c in costs]])
    cost_rows.append(
        [
            "seed 004 §9 says (on demand)",
            *[
                f"~{_money(seeds[m.name]['monthly_cost_usd'])}"
                if m.name in seeds and m == get_model(m.name) else "-"
                for m in models
            ],
        ]
    )
    parts = [
        "<h2>Traffic model</h2>",
        _table(["parameter", *names], parameter_rows),
        "<h2>Capacity (seed 004 §2)</h2>",
        _table(["figure", *names], capacity_rows),
        "<h2>Monthly cost (seed 004 §9)</h2>",
        _table(["category", *names], cost_rows),
        svg_bar_chart(
            [CATEGORY_LABELS[key] for key in CATEGORY_LABELS],
            [Series(name, [c.by_category()[key] for key in CATEGORY_LABELS]) for name, c in zip(names, costs)],
            prefix="$",
        ),
    ]
    for name, cost in zip(names, costs):
        parts.append(f"<h2>Cost lines: {_e(name)}</h2>")
        parts.append(cost_lines_table(cost))
    parts.append("<h2>Diurnal profile (arrival rate over one day)</h2>")
    parts.append(_diurnal_chart(models))
    return "".join(parts)


def cost_lines_table(cost: CostBreakdown) -> str:
    rows = []
    for line in cost.lines:
        per = "" if line.per_units == 1 else f" / {line.per_units:,.0f}"
        rows.append(
            [
                _e(line.service),
                f"{line.quantity:,.0f} {_e(line.unit)}",
                f"${line.unit_price_usd:g}{per}",
                f"${line.cost_usd:,.2f}",
                _money(line.seed_cost_usd),
            ]
        )
    rows.append(["<b>total</b>", "", "", f"<b>${cost.total_usd:,.2f}</b>", ""])
    return _table(["line item", "quantity / month", "unit price", "cost", "seed 004 §9 (Nominal)"], rows)


def _diurnal_chart(models: Sequence[TrafficModel]) -> str:
    hours = [(i + 0.5) * 24 / 96 for i in range(96)]
    series = []
    for model in models:
        profile = build_rate_profile(model, buckets_per_day=96)
        api = [float(v) for v in profile.rates[:, [c == "api" for c in profile.categories]].sum(axis=1)]
        series.append(Series(f"{model.name}: API requests/s (peak/avg {profile.peak_to_average():.2f})", api))
    return svg_line_chart(hours, series, "hour of day (UTC)", "requests / s", x_ticks=HOUR_TICKS)


def render_projection_report(models: Sequence[TrafficModel]) -> str:
    intro = (
        "<p class='note'>Derived from the traffic models of seed 004 §2 with the unit prices of the reconciled "
        "cost table of seed 004 §9 (sim/data/*.yaml). Exact arithmetic: the seed rounds averages before "
        "multiplying by the peak ratio (521 RPS &times; 5 = 2,605), so printed seed figures differ by &lt;1 %.</p>"
    )
    return _page("SyncWell capacity projection", intro + capacity_and_cost_sections(models))


# ----------------------------------------------------------------------------------------------- fit report


def render_fit_report(report: "FitReport") -> str:
    fit = report.fit
    parts = [
        f"<p class='note'>Beta file: {_e(report.source)} &mdash; {fit.users:,} users, {fit.user_days:,} user-days, "
        f"{fit.events:,} events; {report.skipped_rows} bad rows skipped. Intervals: {fit.confidence:.0%} "
        f"percentile bootstrap over users ({fit.bootstrap} resamples).</p>",
        "<h2>Estimated parameters and placement</h2>",
    ]
    rows = []
    for placement in report.placements:
        estimate = fit.estimates[placement.parameter]
        rows.append(
            [
                _e(PARAMETER_LABELS[placement.parameter]),
                f"{estimate.value:.4g}",
                f"[{estimate.low:.4g}, {estimate.high:.4g}]",
                *[f"{placement.scenario_values[name]:.4g}" for name in placement.scenario_values],
                _e(placement.position),
            ]
        )
    scenario_names = list(report.placements[0].scenario_values) if report.placements else []
    parts.append(_table(["parameter", "fit", "interval", *scenario_names, "placement"], rows))
    parts.append(
        svg_interval_chart(
            [
                IntervalRow(
                    PARAMETER_LABELS[p.parameter],
                    fit.estimates[p.parameter].value,
                    fit.estimates[p.parameter].low,
                    fit.estimates[p.parameter].high,
                    p.scenario_values,
                )
                for p in report.placements
                if not any(math.isnan(v) for v in (fit.estimates[p.parameter].value, fit.estimates[p.parameter].low,
                                                   fit.estimates[p.parameter].high))
            ]
        )
    )
    parts.append(f"<p>Closest scenario overall: <b>{_e(report.closest_scenario)}</b>.</p>")
    parts.append("<h2>Deviations that matter (against Nominal, at the projected DAU)</h2>")
    if report.deviations:
        parts.append(
            "<ul>" + "".join(f"<li class='bad'>{_e(d.message)}</li>" for d in report.deviations) + "</ul>"
        )
    else:
        parts.append("<p class='good'>No parameter moves the monthly cost materially away from Nominal.</p>")
    parts.append("<h2>Hourly profile (all requests and syncs)</h2>")
    hours = [h + 0.5 for h in range(24)]
    parts.append(
        svg_line_chart(
            hours,
            [Series(f"beta (peak/avg {fit.estimates['peak_to_average'].value:.2f})", list(fit.hourly_profile))],
            "hour of day (UTC)",
            "share of daily events x 24",
            x_ticks=HOUR_TICKS,
        )
    )
    parts.append(f"<h2>Projection to {report.dau:,} DAU: scenarios and fit</h2>")
    parts.append(capacity_and_cost_sections(report.projected_models))
    parts.append("<h2>Sensitivity of the fitted monthly cost to each parameter</h2>")
    parts.append(_sensitivity_section(report.sensitivity))
    return _page("SyncWell beta fit", "".join(parts))


def _sensitivity_section(rows: Sequence[Sensitivity]) -> str:
    table_rows = [
        [
            _e(PARAMETER_LABELS[row.parameter]),
            f"{row.base_value:.4g}",
            f"{row.plus_10pct_delta_usd:+,.0f}",
            f"{row.elasticity:.2f}",
            f"{row.low_value:.4g} &rarr; {_money(row.low_cost_usd)}",
            f"{row.high_value:.4g} &rarr; {_money(row.high_cost_usd)}",
        ]
        for row in rows
    ]
    chart = svg_bar_chart(
        [PARAMETER_LABELS[row.parameter] for row in rows],
        [
            Series("cost at Conservative value", [row.low_cost_usd for row in rows]),
            Series("cost at Aggressive value", [row.high_cost_usd for row in rows]),
        ],
        prefix="$",
    )
    return _table(
        ["parameter", "fitted value", "$/month for +10 %", "elasticity", "at Conservative value", "at Aggressive value"],
        table_rows,
    ) + chart
