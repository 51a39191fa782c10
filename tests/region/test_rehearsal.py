"""The region-outage gameday's short form from one command: the two regions, the primary killed, failover, RPO,
stranded jobs and failback, judged by its invariants and reported against the seeds' targets."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def test_region_outage_short_form_holds_and_reports_figures_against_every_seed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run = subprocess.run([sys.executable, "-m", "sim", "region", "rehearse", "--short", "--out", str(out), "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    f = report["figures"]
    # Route 53 at 0.5 s x 3 failures: the primary is declared unhealthy after ~1-1.5 s, never before 1 interval.
    assert 0.5 <= f["detection_s"] <= 4.0
    assert f["rto_s"] is not None and f["rto_s"] >= f["detection_s"]
    assert f["acknowledged_by_primary_before_kill"] > 0 and f["dr_acknowledged_jobs"] > 0
    assert f["acknowledged_missing_after_recovery"] == 0 and f["tables_diverging_items"] == 0
    assert f["stranded_finished_after_recovery"] == f["stranded_jobs"]
    # The load was the Nominal mix through the router (Locust engine), not just sync submissions.
    endpoints = f["load_requests_by_endpoint"]
    assert {"GET /v1/connections", "POST /v1/sync-jobs", "GET /v1/sync-jobs/{jobId} (e2e poll)",
            "PUT /v1/users/me/settings"} <= set(endpoints), endpoints
    assert any(name.startswith("webhook:") for name in endpoints), endpoints
    assert endpoints["GET /v1/connections"] > endpoints["POST /v1/sync-jobs"]  # the mix is mostly reads
    primary, dr = report["plan"]["region"]["primary"], report["plan"]["region"]["dr"]
    assert f["acknowledged_by_region"].get(primary, 0) > 0 and f["acknowledged_by_region"].get(dr, 0) > 0
    phases = f["load_requests_by_phase"]
    assert set(phases) == {"nominal", "outage", "recovery"}
    assert set(phases["nominal"]["by_region"]) == {primary} and phases["nominal"]["requests"] > 0
    assert phases["outage"]["by_region"].get(dr, 0) > 0 and phases["outage"]["failed"] > 0  # 502s until the switch
    assert phases["recovery"]["sync_jobs_acknowledged"].get(primary, 0) > 0  # failback
    assert phases["recovery"]["error_rate"] < 0.1
    assert len(report["attempts"]) == sum(p["sync_jobs_submitted"] for p in phases.values())
    assert {(s["seed"], s["metric"]) for s in report["seeds"]} == {
        (seed, metric) for seed in ("000", "001", "003", "004") for metric in ("rto", "rpo")}
    assert all(s["holds"] in (True, False) for s in report["seeds"])
    assert all(i["holds"] for i in report["invariants"])
    html = (out / "report.html").read_text()
    assert "Against the seeds' targets" in html and "RPO" in html and "Load through the router" in html
