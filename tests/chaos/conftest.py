"""Shared pieces of the chaos tests: one chaos-tuned stack per test process, and running an experiment's short
form on it.

The catalog's short forms share that stack (one per xdist worker, started on first use): each experiment judges
only its own jobs, dead letters and writes (sim/chaos/runner.collect_evidence), and ``reset_between`` puts the
stack back in shape afterwards (provider faults cleared, revoked connections re-authorised)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from sim.chaos.catalog import resolve
from sim.chaos.experiment import Experiment
from sim.chaos.journal import Journal
from sim.chaos.runner import run_experiment
from sim.chaos.stackprep import prepare, reset_between, stack_options

pytestmark = pytest.mark.slow
CHAOS_USERS = 20


@pytest.fixture(scope="session")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from stack.launcher import Stack

    with Stack.start(state_dir=tmp_path_factory.mktemp("chaos-stack"), deadline_s=120,
                     **stack_options(users=CHAOS_USERS)) as stack:
        prepare(stack)
        yield stack


def run_short(name: str, stack: object, out: Path) -> Journal:
    return run_on_shared_stack(resolve(name).short_form(), stack, out / name)


def run_on_shared_stack(experiment: Experiment, stack: object, out: Path) -> Journal:
    started = time.monotonic()
    try:
        journal = run_experiment(experiment, stack, out, short=True)
    finally:
        reset_between(stack)
    print(f"{experiment.name}: {time.monotonic() - started:.1f} s")  # shown with -s / in the report on failure
    return journal


def verdict(journal: Journal) -> str:
    return "\n".join(journal.summary_lines())
