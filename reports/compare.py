"""Run-to-run comparison: what regressed between a baseline run directory A and a candidate B.

Reads each directory's summary.json. Per endpoint (and ``ALL``): p50/p95/p99 latency, error rate, throughput.
A latency regression needs both a relative and an absolute increase (so 0.4 -> 0.5 ms is not news).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reports.summary import SCHEMA_VERSION, SUMMARY_FILE

TOTAL_ROW = "ALL"
LATENCY_KEYS = ("p50", "p95", "p99")


class CompareInputError(ValueError):
    """A run directory is missing, unreadable or of another schema version (exit 2)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    latency_pct: float = 10.0  # relative increase of p50/p95/p99 that counts as a regression
    latency_min_ms: float = 1.0  # ... and the absolute increase it also needs
    error_rate_pp: float = 0.1  # error-rate increase in percentage points
    throughput_pct: float = 5.0  # relative throughput drop


@dataclass(frozen=True, slots=True)
class MetricDelta:
    endpoint: str
    metric: str  # "p99_ms", "error_rate_pct", "throughput_rps", ...
    baseline: float | None
    candidate: float | None
    delta: float | None  # candidate - baseline
    delta_pct: float | None
    regression: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str
    candidate: str
    deltas: tuple[MetricDelta, ...]
    missing_in_candidate: tuple[str, ...]
    new_in_candidate: tuple[str, ...]

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "candidate": self.candidate, "regressed": bool(self.regressions),
                "deltas": [asdict(d) for d in self.deltas], "missing_in_candidate": list(self.missing_in_candidate),
                "new_in_candidate": list(self.new_in_candidate)}


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY_FILE if Path(run_dir).is_dir() else Path(run_dir)
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareInputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(summary, dict) or summary.get("schema_version") != SCHEMA_VERSION:
        raise CompareInputError(f"{path}: expected a summary with schema_version {SCHEMA_VERSION}, got "
                                f"{summary.get('schema_version') if isinstance(summary, dict) else type(summary)}")
    return summary


def _rows(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = dict(summary.get("endpoints") or {})
    rows[TOTAL_ROW] = summary["totals"]
    return rows


def _delta(endpoint: str, metric: str, a: float | None, b: float | None, regression_if: Any) -> MetricDelta:
    if a is None or b is None:
        return MetricDelta(endpoint, metric, a, b, None, None, False)
    delta = b - a
    pct = (delta / a * 100.0) if a else None
    return MetricDelta(endpoint, metric, a, b, round(delta, 6), None if pct is None else round(pct, 3),
                       bool(regression_if(a, b, delta, pct)))


def compare_summaries(baseline: dict[str, Any], candidate: dict[str, Any], thresholds: Thresholds,
                      baseline_name: str = "A", candidate_name: str = "B") -> Comparison:
    rows_a, rows_b = _rows(baseline), _rows(candidate)
    deltas: list[MetricDelta] = []
    for endpoint in [name for name in rows_a if name in rows_b]:
        a, b = rows_a[endpoint], rows_b[endpoint]
        for key in LATENCY_KEYS:
            deltas.append(_delta(endpoint, f"{key}_ms", a["latency_ms"][key], b["latency_ms"][key],
                                 lambda x, y, d, p: d > thresholds.latency_min_ms and (
                                     p is None or p > thresholds.latency_pct)))
        deltas.append(_delta(endpoint, "error_rate_pct", a.get("error_rate_pct"), b.get("error_rate_pct"),
                             lambda x, y, d, p: d > thresholds.error_rate_pp))
        deltas.append(_delta(endpoint, "throughput_rps", a.get("throughput_rps"), b.get("throughput_rps"),
                             lambda x, y, d, p: p is not None and -p > thresholds.throughput_pct))
    return Comparison(baseline_name, candidate_name, tuple(deltas),
                      tuple(sorted(set(rows_a) - set(rows_b))), tuple(sorted(set(rows_b) - set(rows_a))))


def compare_runs(baseline_dir: Path, candidate_dir: Path, thresholds: Thresholds | None = None) -> Comparison:
    return compare_summaries(load_summary(baseline_dir), load_summary(candidate_dir), thresholds or Thresholds(),
                             str(baseline_dir), str(candidate_dir))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render_comparison(comparison: Comparison) -> str:
    lines = [f"baseline  A: {comparison.baseline}", f"candidate B: {comparison.candidate}", "",
             f"{'endpoint':<32} {'metric':<16} {'A':>10} {'B':>10} {'delta':>10} {'delta %':>8}  verdict"]
    for d in comparison.deltas:
        verdict = "REGRESSED" if d.regression else ""
        lines.append(f"{d.endpoint[:32]:<32} {d.metric:<16} {_fmt(d.baseline):>10} {_fmt(d.candidate):>10} "
                     f"{_fmt(d.delta):>10} {_fmt(d.delta_pct):>8}  {verdict}")
    if comparison.missing_in_candidate:
        lines.append(f"\nendpoints only in A: {', '.join(comparison.missing_in_candidate)}")
    if comparison.new_in_candidate:
        lines.append(f"endpoints only in B: {', '.join(comparison.new_in_candidate)}")
    regressions = comparison.regressions
    lines.append("")
    lines.append(f"{len(regressions)} regression(s): " + "; ".join(
        f"{d.endpoint} {d.metric} {_fmt(d.baseline)} -> {_fmt(d.candidate)}" for d in regressions)
        if regressions else "no regression beyond the thresholds")
    return "\n".join(lines)
