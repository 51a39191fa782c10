"""``swsim capacity project``: JSON figures, readable table, HTML report, usage errors exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["capacity", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_project_json_has_the_seed_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "project", "--model", "nominal", "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("requests_per_day", "avg_rps", "peak_rps", "syncs_per_day", "avg_syncs_per_s", "peak_syncs_per_s",
                "peak_read_qps", "peak_write_qps", "billed_peak_write_qps", "peak_cache_ops_per_s",
                "egress_gb_per_day", "egress_tb_per_month", "worker_concurrency", "monthly_cost_usd"):
        assert key in data, key
    assert data["requests_per_day"] == 45_000_000
    assert data["peak_rps"] == pytest.approx(2_605, rel=0.005)
    assert data["egress_tb_per_month"] == pytest.approx(16.35)
    assert data["worker_concurrency"] == pytest.approx(87, rel=0.005)
    assert data["monthly_cost_usd"] == pytest.approx(12_376, rel=0.015)
    assert data["seed_stated"]["monthly_cost_usd"] == 12_376


def test_project_dau_override_and_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "project", "--dau", "200000", "--set", "heavy_share=0.2", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["dau"] == 200_000
    assert data["requests_per_day"] == 9_000_000
    assert data["parameters"]["heavy_share"] == 0.2
    assert "seed_stated" not in data


def test_project_all_table_and_html(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "capacity.html"
    code, out, _ = run(capsys, "project", "--model", "all", "--html", str(report))
    assert code == 0
    assert "conservative" in out and "aggressive" in out and "peak RPS" in out
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # no CDN, nothing external
    assert "<script" not in html


@pytest.mark.parametrize(
    "argv",
    [
        ["project", "--model", "huge"],
        ["project", "--set", "heavy_share"],
        ["project", "--set", "bogus=1"],
        ["project", "--dau", "-5"],
        ["project", "--set", "heavy_share=2"],
    ],
)
def test_project_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "error" in err and "Traceback" not in err


def test_schedule_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schedule", "--dau", "1000", "--duration", "3600", "--json", "--events", "3")
    assert code == 0
    data = json.loads(out)
    assert data["compression"] == pytest.approx(24)
    assert data["peak_to_average"] == pytest.approx(5)
    assert len(data["segments"]) == 24 and len(data["events"]) == 3
    api = sum(n for kind, n in data["expected_counts"].items() if kind.split(" ")[0] in ("GET", "POST", "PUT"))
    assert api == pytest.approx(45_000)
    code, out, _ = run(capsys, "schedule", "--dau", "100", "--compression", "1", "--duration", "60")
    assert code == 0 and "GET /v1/connections" in out
    code, _, err = run(capsys, "schedule", "--dau", "100", "--buckets", "1", "--duration", "60")
    assert code == 2 and "Traceback" not in err
