"""The rehearsal's report: ``report.json`` (everything) and ``report.html`` (self-contained: the figures, each
seed's target with held / not held, the invariants, the timeline, the load's requests per phase and a chart of every
sync-job submission by answer)."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack.region.rehearsal import RehearsalResult

COLORS = {"primary": "#1f77b4", "dr": "#2ca02c", "error": "#d62728"}


def write_report(result: "RehearsalResult", out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(result.to_json(), indent=2, default=str))
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(result))
    return json_path, html_path


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return html.escape(str(value))


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def seed_rows(result: "RehearsalResult") -> list[str]:
    rows = []
    for s in result.seeds:
        verdict = {True: "holds", False: "NOT held", None: "no figure"}[s["holds"]]
        rows.append(f"<tr class='{verdict.split()[0].lower()}'><td>{s['seed']}</td><td>{s['metric'].upper()}</td>"
                    f"<td>&lt; {_human(s['limit_s'])}</td><td>{_human(s['value_s'])}</td><td>{verdict}</td>"
                    f"<td>{html.escape(s['quote'])}</td></tr>")
    return rows


def chart(result: "RehearsalResult", primary: str, width: int = 900, height: int = 160) -> str:
    """Every request as a dot: x = send time, y = latency; colour = the region that acknowledged, red = failed."""
    attempts = result.attempts
    if not attempts:
        return ""
    t_max = max(a["done"] for a in attempts) or 1.0
    l_max = max(a["done"] - a["sent"] for a in attempts) or 1.0
    dots = []
    for a in attempts:
        color = COLORS["error"] if a["status"] != 202 else COLORS["primary" if a["region"] == primary else "dr"]
        x = 40 + (width - 50) * a["sent"] / t_max
        y = height - 20 - (height - 30) * (a["done"] - a["sent"]) / l_max
        dots.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2' fill='{color}'/>")
    marks = []
    for name, t in result.timeline.items():
        if t is None or name in ("load_started",):
            continue
        x = 40 + (width - 50) * t / t_max
        marks.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='5' y2='{height - 20}' stroke='#999' stroke-dasharray='3'/>"
                     f"<title>{html.escape(name)} {t:.2f} s</title>")
    return (f"<svg width='{width}' height='{height}' style='border:1px solid #ddd'>{''.join(marks)}{''.join(dots)}"
            f"<text x='40' y='{height - 4}' font-size='11'>0 s</text>"
            f"<text x='{width - 60}' y='{height - 4}' font-size='11'>{t_max:.0f} s</text>"
            f"<text x='2' y='12' font-size='11'>{l_max:.1f} s</text></svg>"
            f"<p class='legend'><span style='color:{COLORS['primary']}'>&#9679; acknowledged by {primary}</span> "
            f"<span style='color:{COLORS['dr']}'>&#9679; acknowledged by the DR region</span> "
            f"<span style='color:{COLORS['error']}'>&#9679; failed</span>; dashed lines: timeline events "
            f"(hover)</p>")


def phase_rows(result: "RehearsalResult") -> str:
    """The load's phases: requests of the whole mix through the router, failures, who answered, sync jobs."""
    phases = result.figures.get("load_requests_by_phase") or {}
    rows = [f"<tr><td>{html.escape(name)}</td><td>{_fmt(p['seconds'])}</td><td>{p['requests']}</td>"
            f"<td>{p['failed']} ({_fmt(p['error_rate'])})</td><td>{html.escape(json.dumps(p['by_region']))}</td>"
            f"<td>{html.escape(json.dumps(p.get('by_status', {})))}</td><td>{p['sync_jobs_submitted']}</td>"
            f"<td>{html.escape(json.dumps(p['sync_jobs_acknowledged']))}</td></tr>" for name, p in phases.items()]
    if not rows:
        return ""
    head = ("<tr><th>phase</th><th>s</th><th>requests</th><th>failed (no answer, 5xx)</th><th>answered by</th>"
            "<th>statuses</th><th>sync jobs submitted</th><th>acknowledged by</th></tr>")
    endpoints = html.escape(json.dumps(result.figures.get("load_requests_by_endpoint", {})))
    return f"<table>{head}{''.join(rows)}</table><p class='legend'>requests by endpoint: {endpoints}</p>"


def render_html(result: "RehearsalResult") -> str:
    plan = result.plan
    primary = plan["region"]["primary"]
    figures = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in result.figures.items())
    invariants = "".join(f"<tr class='{'holds' if i.holds else 'not'}'><td>{html.escape(i.name)}</td>"
                         f"<td>{'held' if i.holds else 'FAILED'}</td><td>{html.escape(i.detail)}</td></tr>"
                         for i in result.invariants)
    timeline = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>"
                       for k, v in sorted(result.timeline.items(), key=lambda kv: (kv[1] is None, kv[1] or 0)))
    verdict = "every invariant held" if result.exit_code == 0 else "an invariant FAILED"
    f = result.figures
    return f"""<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(plan['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}}tr.holds td{{background:#e8f5e9}}
tr.not td{{background:#ffebee}}tr.no td{{background:#f5f5f5}}.legend{{font-size:12px}}</style></head><body>
<h1>{html.escape(plan['title'])}</h1>
<p>{html.escape(plan['name'])}{' (short form)' if plan.get('short') else ''}: {verdict}. Primary {primary}, DR
{html.escape(plan['region']['dr'])}; health checks every {plan['region']['check_interval_s']} s, threshold
{plan['region']['failure_threshold']}, DNS TTL {plan['region']['dns_ttl_s']} s, replication lag
{plan['region']['replication_lag_s']} s, {html.escape(plan['region']['failback'])} failback; fault
{html.escape(json.dumps(plan['fault']))}.</p>
<h2>Headline</h2>
<p>Detection {_human(f['detection_s'])}, RTO {_human(f['rto_s'])} on the rehearsal clock
(production-equivalent at Route 53's 30 s checks and a 60 s TTL: {_human(f['rto_production_equivalent_s'])});
RPO: {f['rpo_lost_writes']} acknowledged write(s) missing in the DR table at the failure, window
{_human(f['rpo_window_s'])}. Jobs caught in the dead region: {f['stranded_jobs']}, finished after recovery:
{f['stranded_finished_after_recovery']}.</p>
<h2>Against the seeds' targets</h2>
<table><tr><th>seed</th><th>metric</th><th>target</th><th>measured</th><th>verdict</th><th>the seed says</th></tr>
{''.join(seed_rows(result))}</table>
<p>Failback rehearsed: {html.escape(f['failback_policy'])}; matches seed(s) {html.escape(', '.join(f['failback_matches_seeds']))}.</p>
<h2>Invariants</h2><table><tr><th>invariant</th><th>verdict</th><th>detail</th></tr>{invariants}</table>
<h2>Load through the router</h2>
<p>The {html.escape(str(plan.get('model', '')))} traffic model at {plan.get('dau')} DAU, x{plan.get('compress')}
(Locust engine, {plan.get('locust_users')} users); phases by send time.</p>{phase_rows(result)}
<h2>Sync-job submissions through the router</h2>{chart(result, primary)}
<h2>Timeline (s from the load's start)</h2><table>{timeline}</table>
<h2>All figures</h2><table>{figures}</table>
</body></html>"""
