"""Write every report of a run into its directory: summary.json, junit.xml, report.html, recording.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from reports.gates import GateReport
from reports.html import HTML_FILE, render_html
from reports.junit import JUNIT_FILE, write_junit
from reports.result import RECORDING_FILE, RunResult
from reports.series import normalize_series
from reports.summary import SUMMARY_FILE, build_summary


@dataclass(frozen=True, slots=True)
class ReportPaths:
    summary: Path
    junit: Path | None
    html: Path
    recording: Path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_reports(out_dir: Path, result: RunResult, gate_report: GateReport | None,
                  extra_series: Mapping[str, Iterable[Sequence[float]]] | None = None) -> ReportPaths:
    """``extra_series``: name -> [(seconds since t0, value)], e.g. {"queue_depth": [...], "dlq_depth": [...]}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = normalize_series(extra_series)
    summary = build_summary(result, gate_report, series)
    paths = ReportPaths(out_dir / SUMMARY_FILE, out_dir / JUNIT_FILE if gate_report else None,
                        out_dir / HTML_FILE, out_dir / RECORDING_FILE)
    _atomic_write(paths.summary, json.dumps(summary, indent=2, sort_keys=False))
    _atomic_write(paths.html, render_html(summary))
    if gate_report is not None and paths.junit is not None:
        write_junit(paths.junit, gate_report)
    result.save(paths.recording)
    return paths
