"""``report.html``: one self-contained page (inline SVG and CSS, no scripts, no fetches) built from summary.json."""
from __future__ import annotations

from html import escape
from typing import Any

from reports.svg import Line, Threshold, bar_chart, line_chart

HTML_FILE = "report.html"
CSS = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}.no_data{color:#777}
.verdict{font-size:20px;padding:8px 12px;display:inline-block;border-radius:4px}
.verdict.pass{background:#dafbe1}.verdict.fail{background:#ffebe9}small{color:#666}
"""


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _gates_section(summary: dict[str, Any]) -> str:
    gates = summary.get("gates")
    if not gates:
        return "<p>No gates were evaluated.</p>"
    rows = []
    for gate in gates["results"]:
        status = gate["status"]
        windows = f'{len(gate["failed_windows"])} / {gate["windows_judged"]}'
        rows.append([escape(gate["name"]), f'<span class="{status}">{status.upper()}</span>',
                     f'{_num(gate["measured"])} {escape(gate["unit"])}',
                     f'{escape(gate["op"])} {_num(gate["threshold"])} {escape(gate["unit"])}',
                     windows, f'<span style="float:left">{escape(gate.get("description") or "")}</span>'])
    return _table(["gate", "status", "measured (whole run)", "threshold", "failed / judged windows", "what"], rows)


def _endpoints_section(summary: dict[str, Any]) -> str:
    rows = []
    for name, ep in summary["endpoints"].items():
        lat = ep["latency_ms"]
        locust = ep.get("locust_latency_ms") or {}
        rows.append([escape(name), _num(ep["requests"]), _num(ep["error_rate_pct"]), _num(ep["late_starts"]),
                     _num(ep["throughput_rps"]), _num(lat["p50"]), _num(lat["p95"]), _num(lat["p99"]),
                     _num(lat["max"]), _num(locust.get("p50")), _num(locust.get("p95")), _num(locust.get("p99"))])
    return _table(["endpoint", "requests", "error %", "late starts", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                   "Locust p50", "Locust p95", "Locust p99"], rows)


def _gate_threshold(summary: dict[str, Any], metric: str) -> list[Threshold]:
    gates = (summary.get("gates") or {}).get("results", [])
    return [Threshold(f'{g["name"]} {g["op"]} {g["threshold"]:g} ms', g["threshold"])
            for g in gates if g["metric"] == metric and not g.get("endpoint")]


def _charts(summary: dict[str, Any]) -> list[str]:
    windows = summary["windows"]
    mid = [w["start_s"] + (w["end_s"] - w["start_s"]) / 2 for w in windows]
    charts: list[str] = []
    latency_lines = [
        Line(label, [(t, w["latency_ms"][key]) for t, w in zip(mid, windows) if w["latency_ms"][key] is not None])
        for label, key in (("p50", "p50"), ("p95", "p95"), ("p99", "p99"), ("max", "max"))
    ]
    charts.append(line_chart("Latency percentiles per window (from scheduled start)", latency_lines,
                             "seconds since start", "ms", _gate_threshold(summary, "latency")))
    charts.append(line_chart("Achieved vs target arrival rate", [
        Line("target", [(t, w["target_rps"] or 0.0) for t, w in zip(mid, windows)], dashed=True),
        Line("achieved (starts)", [(t, w["achieved_rps"] or 0.0) for t, w in zip(mid, windows)]),
    ], "seconds since start", "requests/s"))
    kinds = sorted(summary["errors_by_kind"].items(), key=lambda kv: -kv[1])
    charts.append(bar_chart("Errors by kind", [(k, float(v)) for k, v in kinds], "requests"))
    if kinds:
        charts.append(line_chart("Errors per window by kind", [
            Line(kind, [(t, float(w["errors_by_kind"].get(kind, 0))) for t, w in zip(mid, windows)])
            for kind, _ in kinds[:8]
        ], "seconds since start", "errors"))
    series = summary.get("series") or {}
    if series:
        charts.append(line_chart("Queue depth over time (caller-supplied)", [
            Line(name, [(p[0], p[1]) for p in points]) for name, points in series.items()
        ], "seconds since start", "messages"))
    return charts


def render_html(summary: dict[str, Any]) -> str:
    run = summary["run"]
    totals = summary["totals"]
    gates = summary.get("gates")
    verdict = "NO GATES" if not gates else ("PASS" if gates["passed"] else "FAIL")
    verdict_class = "" if not gates else ("pass" if gates["passed"] else "fail")
    facts = _table(["fact", "value"], [[escape(k), _num(v)] for k, v in [
        ("target", run["target_url"]), ("started at", run["started_at"]), ("duration s", run["duration_s"]),
        ("scheduled", run["scheduled"]), ("target rate req/s", run["target_rps"]),
        ("achieved rate req/s", run["achieved_rps"]), ("requests", totals["requests"]),
        ("late starts (> threshold)", totals["late_starts"]), ("late threshold ms", run["late_threshold_ms"]),
        ("error rate %", totals["error_rate_pct"]), ("availability %", totals["availability_pct"]),
        ("p99 ms (all endpoints)", totals["latency_ms"]["p99"]), ("workers", run["workers"]),
        ("pool size (Locust users)", run["pool_size"]), ("window s", run["window_s"]),
    ]])
    named = _table(["histogram", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"], [
        [escape(name), _num(h["count"]), _num(h["p50"]), _num(h["p95"]), _num(h["p99"]), _num(h["max"])]
        for name, h in summary["named"].items()
    ]) if summary["named"] else "<p>None recorded.</p>"
    charts = "".join(f"<div>{chart}</div>" for chart in _charts(summary))
    warnings = "".join(f'<p class="fail">warning: {escape(w)}</p>' for w in run.get("warnings") or [])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SyncWell Sim load report</title><style>{CSS}</style></head>
<body><h1>SyncWell Sim load report</h1>
<p class="verdict {verdict_class}">{verdict}</p>
{warnings}
<p><small>Latency is measured from each request's <em>scheduled</em> start (coordinated-omission correct) and
recorded in HDR histograms. Locust's own percentiles (timed from the actual send, rounded to 2 significant digits)
are shown beside them for comparison only; gates never use them.</small></p>
<h2>Gates</h2>{_gates_section(summary)}
<h2>Run</h2>{facts}
<h2>Endpoints</h2>{_endpoints_section(summary)}
<h2>Asynchronous work (end to end)</h2>{named}
<h2>Charts</h2>{charts}
</body></html>
"""
