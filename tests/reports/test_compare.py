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
