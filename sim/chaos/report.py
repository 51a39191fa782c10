"""The experiment's HTML report: self-contained (inline SVG, no scripts), faults shaded on every chart."""
from __future__ import annotations

from html import escape
from typing import Any, Sequence

from reports.svg import HEIGHT, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, PALETTE, WIDTH, _fmt, _nice_max

SHADES = ("#fde2e1", "#fff1c9", "#e1ecfd", "#e4f7e0", "#efe1fd")
CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}.pass{color:#176c2a;font-weight:bold}
.fail{color:#b00020;font-weight:bold}.verdict{font-size:1.6em}small{color:#555}"""


def _chart(title: str, lines: Sequence[tuple[str, Sequence[Sequence[float]]]], y_label: str,
           shades: Sequence[tuple[str, float, float]], x_max: float, threshold: tuple[str, float] | None = None) -> str:
    """A line chart over [0, x_max] seconds with shaded fault windows."""
    points = [p[1] for _, pts in lines for p in pts if p[1] is not None]
    y_max = _nice_max(max(points + ([threshold[1]] if threshold else []) + [0.0]))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    x_max = max(x_max, 1.0)

    def sx(x: float) -> float:
        return MARGIN_LEFT + min(max(x, 0.0), x_max) / x_max * plot_w

    def sy(y: float) -> float:
        return MARGIN_TOP + plot_h - (y / y_max) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}"><text x="{MARGIN_LEFT}" y="16" font-size="13" font-weight="bold">'
             f'{escape(title)}</text>']
    for index, (label, start, end) in enumerate(shades):
        color = SHADES[index % len(SHADES)]
        parts.append(f'<rect x="{sx(start):.1f}" y="{MARGIN_TOP}" width="{max(sx(end) - sx(start), 1.5):.1f}" '
                     f'height="{plot_h}" fill="{color}" opacity="0.85"><title>{escape(label)}</title></rect>'
                     f'<text x="{sx(start) + 2:.1f}" y="{MARGIN_TOP + 11 + 11 * (index % 3)}" font-size="10" '
                     f'fill="#7a1f1f">{escape(label)}</text>')
    for i in range(5):
        y = y_max * i / 4
        x = x_max * i / 4
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{sy(y):.1f}" x2="{MARGIN_LEFT + plot_w}" y2="{sy(y):.1f}" '
                     f'stroke="#e5e5e5"/><text x="{MARGIN_LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{_fmt(y)}</text><text x="{sx(x):.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
                     f'text-anchor="middle" font-size="11">{_fmt(x)}</text>')
    parts.append(f'<text x="{MARGIN_LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">'
                 f'seconds since load start</text><text x="14" y="{MARGIN_TOP + plot_h / 2}" font-size="11" '
                 f'transform="rotate(-90 14 {MARGIN_TOP + plot_h / 2})" text-anchor="middle">{escape(y_label)}</text>')
    if threshold:
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{sy(threshold[1]):.1f}" x2="{MARGIN_LEFT + plot_w}" '
                     f'y2="{sy(threshold[1]):.1f}" stroke="#000" stroke-dasharray="2,3"/>'
                     f'<text x="{MARGIN_LEFT + plot_w - 4}" y="{sy(threshold[1]) - 4:.1f}" text-anchor="end" '
                     f'font-size="11">{escape(threshold[0])}</text>')
    for index, (label, pts) in enumerate(lines):
        color = PALETTE[index % len(PALETTE)]
        clean = [(p[0], p[1]) for p in pts if p[1] is not None]
        if clean:
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in clean)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{coords}"/>')
        legend_y = MARGIN_TOP + 14 + index * 16
        parts.append(f'<line x1="{WIDTH - MARGIN_RIGHT + 12}" y1="{legend_y - 4}" x2="{WIDTH - MARGIN_RIGHT + 30}" '
                     f'y2="{legend_y - 4}" stroke="{color}" stroke-width="2"/><text x="{WIDTH - MARGIN_RIGHT + 34}" '
                     f'y="{legend_y}" font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ok(passed: bool) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">FAIL</span>'


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else escape(str(value))


def render_report(journal: dict[str, Any]) -> str:
    experiment = journal["experiment"]
    passed = journal["verdict"]["passed"]
    x_max = float(experiment["load"]["duration_s"])
    series = journal["series"]
    x_max = max([x_max] + [p[0] for pts in series.values() for p in pts])
    shades = [(f["name"], f["applied_at_s"], f["rolled_back_at_s"] if f["rolled_back_at_s"] is not None
               else (f["planned_end_s"] or x_max)) for f in journal["faults"] if f["applied_at_s"] is not None]
    windows = journal["windows"]
    half = lambda rows, key: [(r["t"], r[key]) for r in rows]  # noqa: E731
    charts = [
        _chart("API latency per window (from scheduled start)", [("p99 ms", half(windows, "p99_ms")),
                                                                  ("p50 ms", half(windows, "p50_ms"))],
               "ms", shades, x_max, ("SLO p99 500 ms", 500.0)),
        _chart("API throughput and errors per window", [("requests/s", half(windows, "rps")),
                                                        ("errors", half(windows, "errors")),
                                                        ("5xx / no answer", half(windows, "unavailable"))],
               "per window", shades, x_max),
        _chart("Hot-path queue", [("queued", series.get("queue_depth", [])), ("in flight", series.get("in_flight", [])),
                                  ("DLQ", series.get("dlq_depth", []))], "messages", shades, x_max),
        _chart("Third-party calls (fakes' request total)", [("calls", series.get("third_party_calls", []))],
               "calls (cumulative)", shades, x_max),
    ]
    faults = _table(["step", "type", "planned", "applied at s", "rolled back at s", "error"], [
        [escape(f["name"]), escape(f["type"]),
         f"{_num(f['planned_start_s'])}-{_num(f['planned_end_s'])}", _num(f["applied_at_s"]),
         _num(f["rolled_back_at_s"]), escape(f.get("error") or "")] for f in journal["faults"]])
    steady = _table(["probe", "phase", "bound", "measured", "verdict", "note"], [
        [escape(v["probe"]), v["phase"], escape(v["bound"]), _num(v["measured"]), _ok(v["passed"]), escape(v["note"])]
        for v in journal["steady_state"]]) if journal["steady_state"] else "<p>No steady-state probes.</p>"
    figures = journal["phase_figures"]
    probe_names = sorted({k for f in figures.values() for k in f})
    phase_table = _table(["probe", "before", "during", "after"],
                         [[escape(name)] + [_num(figures[p].get(name)) for p in ("before", "during", "after")]
                          for name in probe_names])
    invariants = _table(["invariant", "verdict", "detail"], [
        [escape(i["check"]), _ok(i["passed"]), escape(i["detail"])] for i in journal["invariants"]])
    failures = "".join(f"<li>{escape(f)}</li>" for f in journal["verdict"]["failures"])
    seeds = ", ".join(escape(s) for s in experiment["seeds"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Chaos: {escape(experiment['name'])}</title>
<style>{CSS}</style></head><body>
<h1>{escape(experiment['title'])}</h1>
<p class="verdict {'pass' if passed else 'fail'}">{'PASS' if passed else 'FAIL'}</p>
{f'<ul>{failures}</ul>' if failures else ''}
<p>{escape(experiment['description'])}</p>
<p><small>experiment <code>{escape(experiment['name'])}</code>{' (short form)' if experiment['short'] else ''};
started {escape(journal['started_at'])}; load {escape(str(experiment['load']))}; seeds: {seeds};
accepted jobs {journal['accepted_jobs']}; drain {journal['drain_s']} s.</small></p>
<h2>Method (faults on the timeline)</h2>{faults}
<h2>Steady-state hypothesis</h2>{steady}
<h2>Every probe per phase</h2>{phase_table}
<h2>Invariants</h2>{invariants}
<h2>Charts</h2>{''.join(f'<div>{c}</div>' for c in charts)}
</body></html>
"""
