"""Short forms of the worker-side experiments on one shared stack (AZ failure, Lambda failure, crash loop, traffic
spike), plus a few rounds of the kill -9 soak: each must hold its hypothesis and invariants."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.chaos.soak import run_soak
from tests.chaos.conftest import run_short, verdict

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["worker-kill", "az-failure", "worker-crash-loop", "traffic-spike"])
def test_worker_experiment_holds(name: str, chaos_stack: object, tmp_path: Path) -> None:
    journal = run_short(name, chaos_stack, tmp_path)
    assert journal.passed, verdict(journal)
    data = json.loads((tmp_path / name / "journal.json").read_text())
    assert all(f["applied_at_s"] is not None for f in data["faults"])
    report = (tmp_path / name / "report.html").read_text()
    assert "<svg" in report and "<rect" in report  # the fault window is shaded on the charts


def test_kill_nine_mid_batch_loses_nothing(chaos_stack: object) -> None:
    figures = run_soak(chaos_stack, rounds=3, jobs_per_round=6, seed=3)
    assert not figures.failures, figures
    assert figures.kills == 3 and figures.accepted > 0 and figures.lost == 0 and figures.duplicate_writes == 0
