"""``swsim report compare A B``: what regressed, exit 1 beyond thresholds, 2 on bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from reports.compare import Thresholds, compare_runs
from reports.gates import evaluate_gates
from reports.result import RunResult
from reports.writer import write_reports
from sim.cli import main


def _run_dir(tmp_path: Path, name: str, result: RunResult) -> Path:
    out = tmp_path / name
    write_reports(out, result, evaluate_gates(result))
    return out


def _swsim(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess (exit code and stderr exactly as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=120)


def _swsim_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The same CLI called in this process (the subprocess start-up imports every command: slow)."""
    code = main(list(args))
    return code, capsys.readouterr().out


def test_same_run_has_no_regression(tmp_path: Path, make_result: Callable[..., RunResult]) -> None:
    a = _run_dir(tmp_path, "a", make_result(lambda rng, at: rng.uniform(5, 50)))
    b = _run_dir(tmp_path, "b", make_result(lambda rng, at: rng.uniform(5, 50)))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 0 and not comparison.regressions


def test_slower_and_erroring_candidate_regresses(tmp_path: Path, make_result: Callable[..., RunResult]) -> None:
    a = _run_dir(tmp_path, "a", make_result(lambda rng, at: rng.uniform(5, 50)))
    b = _run_dir(tmp_path, "b", make_result(lambda rng, at: rng.uniform(5, 80),
                                            status=lambda i: 500 if i % 50 == 0 else 200))
    comparison = compare_runs(a, b)
    regressed = {(d.endpoint, d.metric) for d in comparison.regressions}
    assert ("GET /v1/connections", "p99_ms") in regressed and ("ALL", "error_rate_pct") in regressed
    assert comparison.exit_code == 1
    assert compare_runs(a, b, Thresholds(latency_pct=100, error_rate_pp=5)).exit_code == 0


def test_throughput_drop_regresses(tmp_path: Path, make_result: Callable[..., RunResult]) -> None:
    a = _run_dir(tmp_path, "a", make_result(lambda rng, at: 10.0, rate=50))
    b = _run_dir(tmp_path, "b", make_result(lambda rng, at: 10.0, rate=40))
    assert ("ALL", "throughput_rps") in {(d.endpoint, d.metric) for d in compare_runs(a, b).regressions}


def test_cli_exit_codes_and_json(tmp_path: Path, make_result: Callable[..., RunResult],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    a = _run_dir(tmp_path, "a", make_result(lambda rng, at: rng.uniform(5, 50)))
    b = _run_dir(tmp_path, "b", make_result(lambda rng, at: rng.uniform(50, 500)))
    code, out = _swsim_in_process(capsys, "report", "compare", str(a), str(a))
    assert code == 0 and "no regression" in out
    code, out = _swsim_in_process(capsys, "report", "compare", str(a), str(b), "--json")
    assert code == 1 and json.loads(out)["regressed"] is True
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps({"schema_version": 999}))
    code, _ = _swsim_in_process(capsys, "report", "compare", str(a), str(tmp_path / "old"))
    assert code == 2
    # through the real entry point: a missing run dir is exit 2 with a message, no traceback
    missing = _swsim("report", "compare", str(a), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "nope" in missing.stderr
    with pytest.raises(SystemExit):
        main(["report", "compare", "--help"])
    assert "exit codes" in capsys.readouterr().out


def test_report_gates_rejudges_a_run_and_keeps_its_series(tmp_path: Path, make_result: Callable[..., RunResult],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    result = make_result(lambda rng, at: rng.uniform(5, 50))
    write_reports(run_dir, result, evaluate_gates(result), {"queue_depth": [(0, 3), (5, 7)]})
    code, out = _swsim_in_process(capsys, "report", "gates", str(run_dir), "--gate", "api_p99=20")
    assert code == 1 and "FAIL" in out and "api_p99" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["gates"]["exit_code"] == 1 and summary["series"]["queue_depth"] == [[0.0, 3.0], [5.0, 7.0]]
    assert _swsim_in_process(capsys, "report", "gates", str(run_dir))[0] == 0
    assert _swsim_in_process(capsys, "report", "gates", str(tmp_path / "nope"))[0] == 2
    assert _swsim_in_process(capsys, "report", "gates", str(run_dir), "--gate", "bogus=1")[0] == 2
