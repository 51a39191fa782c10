"""``swsim load`` end to end: a Nominal slice replayed by Locust against a running embedded stack.

One stack per module (started through the Python API, found by the command through its state file), two runs:
one judged by the default gates, one with an impossible p99 threshold that must fail with exit 1 and a JUnit
failure naming the gate.
"""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest

from stack.launcher import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack.start(users=10, state_dir=tmp_path_factory.mktemp("stack"), fake_config={"history_days": 7}) as stack:
        yield stack


def swsim_load(stack: Stack, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sim", "load", "--stack-state", str(stack.state_file), "--dau", "400",
               "--duration", "12", "--window", "5", "--drain-timeout", "60", "--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_replay_writes_reports_and_measures_real_syncs(running_stack: Stack, tmp_path: Path) -> None:
    result = swsim_load(running_stack, tmp_path / "run")
    assert result.returncode in (0, 1), result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    endpoints = summary["endpoints"]
    assert endpoints["GET /v1/connections"]["requests"] > 0
    assert endpoints["POST /v1/sync-jobs"]["requests"] > 0
    # Manual syncs were followed to SUCCEEDED through the worker and the fakes: the end-to-end histogram has data.
    assert summary["named"]["manual_sync"]["count"] > 0
    assert summary["counters"]["sync_jobs_accepted"] > 0
    assert summary["counters"]["sync_jobs_dlq"] == 0
    gates = {gate["name"]: gate for gate in summary["gates"]["results"]}
    assert set(gates) >= {"api_p99", "availability", "sync_success", "manual_sync_p95", "error_rate"}
    # The exit code is the gates' verdict.
    failed = [name for name, gate in gates.items() if gate["status"] == "fail"]
    assert result.returncode == (1 if failed else 0), (failed, result.stdout)
    assert "api_p99" in result.stdout  # the gate table is printed
    cases = [case.get("name") for case in ET.parse(tmp_path / "run" / "junit.xml").getroot().iter("testcase")]
    assert sorted(cases) == sorted(gates)  # one JUnit test case per gate


def test_a_gate_that_cannot_hold_fails_the_run_with_exit_1(running_stack: Stack, tmp_path: Path) -> None:
    result = swsim_load(running_stack, tmp_path / "run", "--gate", "api_p99=0.001")
    assert result.returncode == 1, result.stderr[-3000:]
    junit = ET.parse(tmp_path / "run" / "junit.xml").getroot()
    failures = {case.get("name"): case.find("failure") for case in junit.iter("testcase")}
    assert failures["api_p99"] is not None
    assert "api_p99" in failures["api_p99"].get("message", "") + (failures["api_p99"].text or "")


def test_remote_target_without_context_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "sim", "load", "--target", "http://127.0.0.1:9", "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--context" in result.stderr
    assert "Traceback" not in result.stderr
