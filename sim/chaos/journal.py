"""The experiment journal: everything that happened and the verdicts, as one JSON file (``journal.json``) that
the HTML report is rendered from."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from reports import histogram as hdr
from sim.chaos.experiment import Experiment
from sim.chaos.invariants import Evidence, InvariantResult
from sim.chaos.probes import Phases, ProbeVerdict, is_api_endpoint

JOURNAL_FILE = "journal.json"
REPORT_FILE = "report.html"


@dataclass
class Journal:
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.data["verdict"]["passed"])

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def failures(self) -> list[str]:
        return list(self.data["verdict"]["failures"])

    @classmethod
    def build(cls, experiment: Experiment, *, short: bool, started_at: float, drain_s: float, phases: Phases,
              verdicts: Sequence[ProbeVerdict], invariants: Sequence[InvariantResult], evidence: Evidence,
              figures: dict[str, dict[str, float | None]], fault_errors: Sequence[str]) -> "Journal":
        failures = [f"fault {e}" for e in fault_errors]
        failures += [f"steady state {v.phase}: {v.bound} (measured {v.measured:.4g})" for v in verdicts
                     if not v.passed and v.measured is not None]
        failures += [f"invariant {i.check}: {i.detail}" for i in invariants if not i.passed]
        data = {
            "experiment": {"name": experiment.name, "title": experiment.title, "description": experiment.description,
                           "seeds": list(experiment.seeds), "path": experiment.path, "short": short,
                           "load": experiment.load.__dict__, "recovery_s": experiment.recovery_s},
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
            "drain_s": round(drain_s, 2),
            "faults": [r.to_wire() for r in evidence.faults],
            "phases": phases.to_wire(),
            "steady_state": [v.to_wire() for v in verdicts],
            "phase_figures": {p: {k: (None if v is None else round(v, 4)) for k, v in f.items()}
                              for p, f in figures.items()},
            "invariants": [i.to_wire() for i in invariants],
            "series": {name: [[round(t, 3), v] for t, v in points] for name, points in evidence.series.items()},
            "windows": _windows(evidence),
            "accepted_jobs": len(evidence.accepted),
            "dead_letters": [{"jobId": d.job_id, "receives": d.receives,
                              "error": (d.reason or str(evidence.jobs.get(d.job_id or "", {}).get("error", "")))[:200]}
                             for d in evidence.dead_letters],
            "extra": _jsonable(evidence.extra),
            "verdict": {"passed": not failures, "failures": failures},
        }
        return cls(data)

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        from sim.chaos.report import render_report

        out_dir.mkdir(parents=True, exist_ok=True)
        journal_path = out_dir / JOURNAL_FILE
        journal_path.write_text(json.dumps(self.data, indent=2, default=str))
        report_path = out_dir / REPORT_FILE
        report_path.write_text(render_report(self.data))
        return journal_path, report_path

    def summary_lines(self) -> list[str]:
        name = self.data["experiment"]["name"]
        lines = [f"{name}: {'PASS' if self.passed else 'FAIL'}"]
        for v in self.data["steady_state"]:
            measured = "-" if v["measured"] is None else f"{v['measured']:.4g}"
            lines.append(f"  steady state {v['phase']:<6} {v['bound']:<36} measured {measured:<10} "
                         f"{'ok' if v['passed'] else 'FAIL'} {v['note']}")
        for i in self.data["invariants"]:
            lines.append(f"  invariant {i['check']:<38} {'ok' if i['passed'] else 'FAIL'}  {i['detail']}")
        for f in self.data["faults"]:
            if f.get("error"):
                lines.append(f"  fault {f['name']}: {f['error']}")
        return lines


def _windows(evidence: Evidence) -> list[dict[str, Any]]:
    """Per load window: API p99, throughput and errors (the report's latency/throughput charts)."""
    recorder = evidence.recorder
    rows = []
    for index in recorder.window_indices():
        window = recorder.windows[index]
        histogram = hdr.new_window_histogram()
        requests = errors = unavailable = 0
        for label, recording in window.endpoints.items():
            if is_api_endpoint(label):
                hdr.merge_into(histogram, recording.latency)
                requests += recording.counts.requests
                errors += recording.counts.errors
                unavailable += recording.counts.unavailable
        rows.append({"t": index * recorder.window_s, "p99_ms": hdr.percentile_ms(histogram, 99.0),
                     "p50_ms": hdr.percentile_ms(histogram, 50.0), "requests": requests,
                     "rps": requests / recorder.window_s, "errors": errors, "unavailable": unavailable})
    return rows


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
