"""Short forms of the third-party experiments on the shared stack (latency, 429 storm, DNS failure, webhook storm
with duplicates) and the quarterly gameday. Token revocation runs on a stack of its own (test_catalog_revocation)."""
from __future__ import annotations

from pathlib import Path

import pytest

from sim.chaos.catalog import GAMEDAYS_DIR
from sim.chaos.gameday import load_gameday
from tests.chaos.conftest import run_on_shared_stack, run_short, verdict

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["provider-latency", "provider-429-storm", "dns-failure", "webhook-storm"])
def test_provider_experiment_holds(name: str, chaos_stack: object, tmp_path: Path) -> None:
    journal = run_short(name, chaos_stack, tmp_path)
    assert journal.passed, verdict(journal)


def test_quarterly_gameday_holds(chaos_stack: object, tmp_path: Path) -> None:
    experiment = load_gameday(GAMEDAYS_DIR / "quarterly.yaml", short=True)
    journal = run_on_shared_stack(experiment, chaos_stack, tmp_path / "gameday")
    assert journal.passed, verdict(journal)
    assert len(journal.data["faults"]) == 3
