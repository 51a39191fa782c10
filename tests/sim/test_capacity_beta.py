"""Beta data: a synthetic beta's planted parameters are recovered inside the intervals, deviations are priced,
bad rows name their line, the CLI exits 2 on user mistakes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.beta.estimate import fit_telemetry
from sim.beta.placement import build_fit_report, place
from sim.beta.synthetic import generate_beta, generate_beta_columns
from sim.beta.telemetry import read_telemetry, telemetry_from_events, write_telemetry
from sim.cli import main
from sim.cost import model_cost
from sim.errors import UsageError
from sim.models import PARAMETER_NAMES, get_model

PLANTED = {"heavy_share": 0.25, "requests_per_session": 12.0, "write_read_ratio": 1.4, "peak_to_average": 6.0}


def planted_model():
    return get_model("nominal").with_overrides(**PLANTED)


def test_fit_recovers_planted_parameters_inside_intervals(tmp_path: Path) -> None:
    """One fixed beta through the file path (deterministic). Any single seed misses one of 8 parameters with
    probability ~1 - 0.95**8; the statistical property itself is test_interval_coverage_across_seeds."""
    model = planted_model()
    path = tmp_path / "beta.jsonl"
    write_telemetry(generate_beta(model, users=150, days=3, seed=1), path)
    fit = fit_telemetry(read_telemetry(path), bootstrap=400, seed=1)
    for name in PARAMETER_NAMES:
        estimate = fit.estimates[name]
        truth = getattr(model, name)
        assert estimate.low <= estimate.value <= estimate.high, name
        assert estimate.contains(truth), f"{name}: {truth} not in {estimate}"
        assert estimate.value == pytest.approx(truth, rel=0.12), name


def test_interval_coverage_across_seeds() -> None:
    """Across seeds, the 95 % intervals cover the truth most of the time (a broken or too narrow interval fails)."""
    model = planted_model()
    covered = total = 0
    for seed in range(8):
        telemetry = generate_beta_columns(model, users=150, days=4, seed=100 + seed).telemetry()
        fit = fit_telemetry(telemetry, bootstrap=300, seed=seed)
        for name in PARAMETER_NAMES:
            total += 1
            covered += fit.estimates[name].contains(getattr(model, name))
    assert covered / total >= 0.80, f"coverage {covered}/{total}"


def test_planted_heavy_share_deviation_is_named_with_its_cost() -> None:
    model = get_model("nominal").with_overrides(heavy_share=0.20)  # twice Nominal
    fit = fit_telemetry(generate_beta_columns(model, users=200, days=4, seed=9).telemetry(), bootstrap=300)
    report = build_fit_report(fit, dau=1_000_000, source="synthetic")
    named = {d.parameter: d for d in report.deviations}
    assert "heavy_share" in named
    heavy = named["heavy_share"]
    # Twice Nominal's 10 %: +1M syncs/day of (500 - 5) KB -> +14.85 TB/month -> ~+$765/month of NAT + firewall.
    assert heavy.delta_egress_tb_per_month == pytest.approx(14.85, rel=0.1)
    assert heavy.delta_monthly_usd == pytest.approx(765, rel=0.1)
    nominal = get_model("nominal")
    expected = model_cost(nominal.with_overrides(heavy_share=heavy.fitted_value)).total_usd - model_cost(nominal).total_usd
    assert heavy.delta_monthly_usd == pytest.approx(expected)
    assert "heavy payload share" in heavy.message and "TB/month" in heavy.message and "$" in heavy.message
    placement = {p.parameter: p for p in report.placements}
    assert placement["heavy_share"].position == "consistent with aggressive"
    assert placement["sessions_per_user_per_day"].consistent_with == ["nominal"]
    assert [m.name for m in report.projected_models] == ["conservative", "nominal", "aggressive", "beta-fit"]
    assert len(report.sensitivity) == len(PARAMETER_NAMES)


def test_placement_positions() -> None:
    scenarios = {"conservative": 2.0, "nominal": 3.0, "aggressive": 5.0}
    assert place("x", 2.9, 3.1, 3.3, scenarios).position == "consistent with nominal"
    assert place("x", 3.5, 4.0, 4.5, scenarios).position == "between nominal and aggressive"
    assert place("x", 0.5, 1.0, 1.5, scenarios).position == "below conservative"
    assert place("x", 6.0, 7.0, 8.0, scenarios).position == "above aggressive"


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    '{"ts":"2026-01-05T07:30:00Z","user":"a","kind":"session_start"}',
    '{"ts":"2026-01-05T07:30:05Z","user":"a","kind":"api_call","endpoint":"GET /v1/connections"}',
    '{"ts":"2026-01-05T07:31:00Z","user":"a","kind":"sync_requested","sync_id":"j1"}',
    '{"ts":"2026-01-05T07:31:09Z","user":"a","kind":"sync_finished","sync_id":"j1","outcome":"succeeded",'
    '"payload_bytes":5000,"db_reads":1,"db_writes":1}',
]


@pytest.mark.parametrize(
    "bad, why",
    [
        ('{"ts":"2026-01-05T08:00:00Z","user":"a","kind":"teleport"}', "unknown kind"),
        ('{"ts":"2026-01-05T08:00:00Z","user":"a","kind":"api_call"}', "endpoint is required"),
        ('{"ts":"yesterday","user":"a","kind":"session_start"}', "neither ISO-8601"),
        ('{"ts":"2026-01-05T08:00:00Z","user":"a","kind":"sync_finished","outcome":"succeeded",'
         '"payload_bytes":-4,"db_reads":1,"db_writes":1}', "payload_bytes"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_jsonl_row_names_its_line(tmp_path: Path, bad: str, why: str) -> None:
    path = _write_lines(tmp_path / "beta.jsonl", [*GOOD[:2], bad, *GOOD[2:]])
    with pytest.raises(UsageError, match=rf"line 3: .*{why}"):
        read_telemetry(path)
    telemetry = read_telemetry(path, skip_bad=True)
    assert telemetry.skipped_rows == 1 and len(telemetry) == 4
    assert "line 3" in telemetry.errors[0]


def test_bad_csv_row_names_its_line(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "beta.csv",
        [
            "ts,user,kind,endpoint,outcome,payload_bytes,db_reads,db_writes",
            "2026-01-05T07:30:00Z,a,session_start,,,,,",
            "2026-01-05T07:30:05Z,a,api_call,GET /v1/connections,,,,",
            "2026-01-05T07:31:09Z,a,sync_finished,,succeeded,5000,1,1.5",
        ],
    )
    with pytest.raises(UsageError, match="line 4: db_writes"):
        read_telemetry(path)
    assert read_telemetry(path, skip_bad=True).skipped_rows == 1


def test_csv_and_jsonl_give_the_same_fit(tmp_path: Path) -> None:
    events = list(generate_beta(get_model("nominal"), users=40, days=2, seed=3))
    write_telemetry(events, tmp_path / "b.jsonl")
    write_telemetry(events, tmp_path / "b.csv")
    a = fit_telemetry(read_telemetry(tmp_path / "b.jsonl"), bootstrap=50)
    b = fit_telemetry(read_telemetry(tmp_path / "b.csv"), bootstrap=50)
    for name in PARAMETER_NAMES:
        assert a.estimates[name].value == pytest.approx(b.estimates[name].value, rel=1e-6), name


def test_in_memory_columns_match_the_rows() -> None:
    model = get_model("nominal")
    from_rows = fit_telemetry(telemetry_from_events(generate_beta(model, 30, 2, seed=8)), bootstrap=50)
    from_columns = fit_telemetry(generate_beta_columns(model, 30, 2, seed=8).telemetry(), bootstrap=50)
    for name in PARAMETER_NAMES:
        assert from_rows.estimates[name].value == pytest.approx(from_columns.estimates[name].value), name


def test_generator_is_deterministic() -> None:
    model = get_model("conservative")
    assert list(generate_beta(model, 20, 2, seed=4)) == list(generate_beta(model, 20, 2, seed=4))
    assert list(generate_beta(model, 20, 2, seed=4)) != list(generate_beta(model, 20, 2, seed=5))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["capacity", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_generate_then_fit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    beta = tmp_path / "beta.csv"
    code, out, _ = run(capsys, "beta", "generate", "--out", str(beta), "--users", "80", "--days", "2", "--seed",
                       "2", "--plant", "heavy_share=0.3")
    assert code == 0 and "wrote" in out
    truth = json.loads((tmp_path / "beta.csv.truth.json").read_text())
    assert truth["parameters"]["heavy_share"] == 0.3 and truth["planted"] == {"heavy_share": 0.3}
    html = tmp_path / "fit.html"
    code, out, _ = run(capsys, "fit", str(beta), "--json", "--bootstrap", "100", "--html", str(html))
    assert code == 0
    data = json.loads(out)
    assert data["fit"]["estimates"]["heavy_share"]["value"] == pytest.approx(0.3, abs=0.05)
    assert any(d["parameter"] == "heavy_share" for d in data["deviations"])
    assert [p["model"] for p in data["projections"]] == ["conservative", "nominal", "aggressive", "beta-fit"]
    assert html.read_text().count("<svg") >= 3
    code, out, _ = run(capsys, "fit", str(beta), "--bootstrap", "100")
    assert code == 0 and "deviations that matter" in out and "heavy payload share" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "/nonexistent/beta.jsonl"],
        ["fit", "beta.txt"],
        ["fit", "BAD_FILE", "--bootstrap", "1"],
        ["beta", "generate", "--out", "OUT", "--users", "0", "--days", "1", "--seed", "1"],
        ["beta", "generate", "--out", "OUT", "--users", "5", "--days", "1", "--seed", "1", "--plant", "x=1"],
        ["beta", "generate", "--out", "OUT", "--users", "5", "--days", "1", "--seed", "1", "--plant", "heavy_share"],
    ],
)
def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]) -> None:
    bad = _write_lines(tmp_path / "bad.jsonl", [*GOOD, '{"ts":1,"user":"a","kind":"nope"}'])
    argv = [str(bad) if a == "BAD_FILE" else str(tmp_path / "out.jsonl") if a == "OUT" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err and "error" in err


def test_cli_bad_row_line_number_and_skip_bad(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = _write_lines(tmp_path / "bad.jsonl", [*GOOD, '{"ts":1,"user":"a","kind":"nope"}'])
    code, _, err = run(capsys, "fit", str(bad), "--bootstrap", "20")
    assert code == 2 and "line 5" in err and "--skip-bad" in err
    html = tmp_path / "fit.html"
    code, out, _ = run(capsys, "fit", str(bad), "--bootstrap", "20", "--skip-bad", "--json", "--html", str(html))
    assert code == 0
    assert "nan" not in html.read_text().split("<svg", 1)[1].split("</svg>", 1)[0]
    data = json.loads(out)
    assert data["fit"]["estimates"]["heavy_payload_kb"]["value"] is None  # no heavy payload in this file
    assert data["skipped_rows"] == 1 and "line 5" in data["bad_rows"][0]
