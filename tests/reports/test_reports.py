"""summary.json (documented, versioned), report.html (self-contained, with its charts), written together."""
from __future__ import annotations

import json
import re
from pathlib import Path

from reports.gates import evaluate_gates
from reports.result import RunResult
from reports.summary import SCHEMA_VERSION
from reports.writer import write_reports

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "reports" / "SCHEMA.md"


def _keys(value: object, prefix: str = "") -> set[str]:
    """Dotted key paths of a summary, with per-name maps (endpoints, named, ...) collapsed to '*'."""
    keys: set[str] = set()
    dynamic = {"endpoints", "named", "errors_by_kind", "counters", "series"}
    if isinstance(value, dict):
        for key, child in value.items():
            name = "*" if prefix.rsplit(".", 1)[-1] in dynamic else key
            path = f"{prefix}.{name}" if prefix else name
            keys.add(path)
            keys |= _keys(child, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        keys |= _keys(value[0], prefix + "[]")
    return keys


def test_write_reports_produces_every_file_and_a_versioned_summary(healthy_result: RunResult, tmp_path: Path) -> None:
    healthy_result.record_async_latency("manual_sync", 1.0, 4.2)
    paths = write_reports(tmp_path, healthy_result, evaluate_gates(healthy_result),
                          {"queue_depth": [(0, 0), (10, 40), (20, 5)], "dlq_depth": [(0, 0), (20, 2)]})
    for path in (paths.summary, paths.junit, paths.html, paths.recording):
        assert path is not None and path.exists() and path.stat().st_size > 0
    summary = json.loads(paths.summary.read_text())
    assert summary["schema_version"] == SCHEMA_VERSION
    assert summary["totals"]["requests"] == 1500
    assert summary["gates"]["passed"] is True and summary["gates"]["exit_code"] == 0
    assert [w["index"] for w in summary["windows"]][:3] == [0, 1, 2]  # a 4th holds late completions
    assert summary["series"]["queue_depth"][1] == [10.0, 40.0]
    assert summary["named"]["manual_sync"]["count"] == 1
    assert RunResult.load(paths.recording).recorder.totals() == healthy_result.recorder.totals()


def test_every_summary_field_is_documented_in_schema_md(healthy_result: RunResult, tmp_path: Path) -> None:
    healthy_result.record_async_latency("manual_sync", 1.0, 4.2)
    paths = write_reports(tmp_path, healthy_result, evaluate_gates(healthy_result), {"queue_depth": [(0, 1)]})
    summary = json.loads(paths.summary.read_text())
    documented = set(re.findall(r"`([a-z_0-9.*\[\]]+)`", SCHEMA_DOC.read_text()))
    leaves = {key.rsplit(".", 1)[-1].replace("[]", "") for key in _keys(summary)}
    missing = sorted(leaf for leaf in leaves if leaf not in documented and leaf != "*")
    assert not missing, f"fields not documented in reports/SCHEMA.md: {missing}"


def test_html_is_self_contained_and_has_the_charts(healthy_result: RunResult, tmp_path: Path) -> None:
    paths = write_reports(tmp_path, healthy_result, evaluate_gates(healthy_result),
                          {"queue_depth": [(0, 0), (10, 40)], "dlq_depth": [(0, 0), (20, 2)]})
    html = paths.html.read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no external resources"
    assert "@import" not in html
    for title in ("Latency percentiles per window", "Achieved vs target arrival rate", "Errors by kind",
                  "Queue depth over time"):
        assert title in html
    assert html.count("<svg") >= 4
    assert "dlq_depth" in html and "Locust p99" in html


def test_html_without_series_or_errors_still_renders(healthy_result: RunResult, tmp_path: Path) -> None:
    paths = write_reports(tmp_path, healthy_result, None)
    html = paths.html.read_text()
    assert "Queue depth" not in html and "NO GATES" in html and paths.junit is None
