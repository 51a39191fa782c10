"""Short forms of the worker-side experiments on the shared stack (AZ failure, Lambda failure, crash loop, traffic
spike), a few rounds of the kill -9 soak, and - last of the catalog tests, see below - token revocation: each must
hold its hypothesis and invariants."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.chaos.soak import run_soak
from tests.chaos.conftest import SharedStack, run_short, verdict

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
    # advance_s=0: the fakes' clocks stay put on the shared stack (no mass token expiry for the tests after it)
    figures = run_soak(chaos_stack, rounds=3, jobs_per_round=6, seed=3, advance_s=0)
    assert not figures.failures, figures
    assert figures.kills == 3 and figures.accepted > 0 and figures.lost == 0 and figures.duplicate_writes == 0


def test_token_revocation_dead_letters_with_a_reason(shared_stack: SharedStack, tmp_path: Path) -> None:
    """The fakes revoke every Strava grant for good (a user who disconnects the app), so the stack is spent
    afterwards: this test is collected last among those using the shared stack (a later one would get a new stack).
    The revoked jobs fail for good: each reaches the DLQ after exactly 5 receives, and the DLQ consumer
    (stack/dlq) records why on the job."""
    try:
        journal = run_short("token-revocation", shared_stack.get(), tmp_path)
    finally:
        shared_stack.spent = True
    assert journal.passed, verdict(journal)
    letters = journal.data["dead_letters"]
    assert letters and all(d["receives"] == 5 and d["error"] for d in letters), letters
