"""The experiments can fail: a deliberately broken worker (SYNCWELL_WORKER_FAULTY) makes the matching
experiment fail with a verdict that names the broken invariant, and ``swsim chaos run`` exits 1."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.chaos.stackprep import prepare, stack_options

pytestmark = pytest.mark.slow


def _run_against_broken_worker(bug: str, experiment: str, tmp_path: Path) -> tuple[int, str, dict]:
    from stack.launcher import Stack

    with Stack.start(state_dir=tmp_path / "stack", deadline_s=120,
                     **stack_options(users=10, extra_env={"SYNCWELL_WORKER_FAULTY": bug})) as stack:
        prepare(stack)
        out = tmp_path / "run"
        result = subprocess.run([sys.executable, "-m", "sim", "chaos", "run", experiment, "--short",
                                 "--stack-state", str(stack.state_file), "--out", str(out)],
                                capture_output=True, text=True, timeout=400)
    return result.returncode, result.stdout + result.stderr, json.loads((out / "journal.json").read_text())


def test_a_worker_that_ignores_the_token_bucket_calls_providers_while_redis_is_down(tmp_path: Path) -> None:
    code, output, journal = _run_against_broken_worker("ignore_token_bucket", "redis-outage", tmp_path)
    assert code == 1, output[-3000:]
    failed = {i["check"] for i in journal["invariants"] if not i["passed"]}
    assert "no_third_party_calls_during" in failed, output[-3000:]
    assert "third-party calls between" in output


def test_a_worker_that_deletes_before_writing_loses_jobs(tmp_path: Path) -> None:
    code, output, journal = _run_against_broken_worker("delete_before_write", "redis-outage", tmp_path)
    assert code == 1, output[-3000:]
    failed = {i["check"] for i in journal["invariants"] if not i["passed"]}
    assert "ledger" in failed, output[-3000:]
    assert "neither SUCCEEDED nor in the DLQ" in output
