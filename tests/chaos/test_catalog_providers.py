"""Short forms of the third-party experiments on one shared stack (latency, 429 storm, DNS failure, token
revocation, webhook storm with duplicates) and the quarterly gameday."""
from __future__ import annotations

from pathlib import Path

import pytest

from sim.chaos.catalog import GAMEDAYS_DIR
from sim.chaos.gameday import load_gameday
from sim.chaos.runner import run_experiment
from tests.chaos.conftest import catalog_only, run_short, verdict

pytestmark = [pytest.mark.slow, catalog_only]


@pytest.mark.parametrize("name", ["provider-latency", "provider-429-storm", "dns-failure", "webhook-storm",
                                  "token-revocation"])
def test_provider_experiment_holds(name: str, chaos_stack: object, tmp_path: Path) -> None:
    journal = run_short(name, chaos_stack, tmp_path)
    assert journal.passed, verdict(journal)


def test_quarterly_gameday_holds(chaos_stack: object, tmp_path: Path) -> None:
    experiment = load_gameday(GAMEDAYS_DIR / "quarterly.yaml", short=True)
    journal = run_experiment(experiment, chaos_stack, tmp_path / "gameday", short=True)
    assert journal.passed, verdict(journal)
    assert len(journal.data["faults"]) == 3
