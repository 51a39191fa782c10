"""``swsim report compare A B``: what regressed, exit 1 beyond thresholds, 2 on bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

from reports.compare import Thresholds, compare_runs
from reports.gates import evaluate_gates
from reports.result import RunResult
from reports.writer import write_reports


def _run_dir(tmp_path: Path, name: str, result: RunResult) -> Path:
    out = tmp_path / name
    write_reports(out, result, evaluate_gates(result))
    return out


def _swsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=120)


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


def test_cli_exit_codes_and_json(tmp_path: Path, make_result: Callable[..., RunResult]) -> None:
    a = _run_dir(tmp_path, "a", make_result(lambda rng, at: rng.uniform(5, 50)))
    b = _run_dir(tmp_path, "b", make_result(lambda rng, at: rng.uniform(50, 500)))
    same = _swsim("report", "compare", str(a), str(a))
    assert same.returncode == 0, same.stderr
    assert "no regression" in same.stdout
    worse = _swsim("report", "compare", str(a), str(b), "--json")
    assert worse.returncode == 1
    assert json.loads(worse.stdout)["regressed"] is True
    missing = _swsim("report", "compare", str(a), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps({"schema_version": 999}))
    assert _swsim("report", "compare", str(a), str(tmp_path / "old")).returncode == 2
    assert "exit codes" in _swsim("report", "compare", "--help").stdout


def test_report_gates_rejudges_a_run_and_keeps_its_series(tmp_path: Path,
                                                          make_result: Callable[..., RunResult]) -> None:
    run_dir = tmp_path / "run"
    result = make_result(lambda rng, at: rng.uniform(5, 50))
    write_reports(run_dir, result, evaluate_gates(result), {"queue_depth": [(0, 3), (5, 7)]})
    strict = _swsim("report", "gates", str(run_dir), "--gate", "api_p99=20")
    assert strict.returncode == 1, strict.stderr
    assert "FAIL" in strict.stdout and "api_p99" in strict.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["gates"]["exit_code"] == 1 and summary["series"]["queue_depth"] == [[0.0, 3.0], [5.0, 7.0]]
    assert _swsim("report", "gates", str(run_dir)).returncode == 0
    assert _swsim("report", "gates", str(tmp_path / "nope")).returncode == 2
    assert _swsim("report", "gates", str(run_dir), "--gate", "bogus=1").returncode == 2
