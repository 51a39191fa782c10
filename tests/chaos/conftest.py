"""Shared pieces of the chaos tests: one chaos-tuned stack per test process, and running an experiment's short
form on it.

The catalog's short forms share that stack (one per xdist worker, started on first use): each experiment judges
only its own jobs, dead letters and writes (sim/chaos/runner.collect_evidence), and ``reset_between`` puts the
stack back in shape afterwards (provider faults cleared, connections marked needs_reauth active again)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from sim.chaos.catalog import resolve
from sim.chaos.experiment import Experiment
from sim.chaos.journal import Journal
from sim.chaos.runner import run_experiment
from sim.chaos.stackprep import prepare, reset_between, stack_options

pytestmark = pytest.mark.slow
CHAOS_USERS = 20
FIGURES_ENV = "SWSIM_CHAOS_FIGURES"


class SharedStack:
    """The chaos stack of this test process, started on first use. A test that leaves it unusable for the others
    (token revocation: the fakes refuse the revoked grants for good) marks it spent; the next user gets a new one.
    (That test is collected last among the catalog tests, so in practice no restart happens.)"""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._stack: Any = None
        self.spent = False

    def get(self) -> Any:
        from stack.launcher import Stack

        if self._stack is not None and self.spent:
            self.stop()
        if self._stack is None:
            self._stack = Stack.start(state_dir=self._factory.mktemp("chaos-stack"), deadline_s=120,
                                      **stack_options(users=CHAOS_USERS))
            self.spent = False
            prepare(self._stack)
        return self._stack

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.stop()
            self._stack = None


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedStack]:
    holder = SharedStack(tmp_path_factory)
    yield holder
    holder.stop()


@pytest.fixture
def chaos_stack(shared_stack: SharedStack) -> Any:
    return shared_stack.get()


def run_short(name: str, stack: Any, out: Path) -> Journal:
    return run_on_shared_stack(resolve(name).short_form(), stack, out / name)


def run_on_shared_stack(experiment: Experiment, stack: Any, out: Path) -> Journal:
    started = time.monotonic()
    try:
        journal = run_experiment(experiment, stack, out, short=True)
    finally:
        reset_between(stack)
    record_figures(journal, time.monotonic() - started)
    return journal


def record_figures(journal: Journal, wall_s: float) -> None:
    """With SWSIM_CHAOS_FIGURES=FILE, one JSON line per experiment: wall time, drain, measured probes (what the
    short forms' bounds are set from)."""
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    data = journal.data
    line = {"experiment": data["experiment"].get("name") if isinstance(data["experiment"], dict) else data["experiment"],
            "wall_s": round(wall_s, 1), "drain_s": data["drain_s"], "passed": data["verdict"]["passed"],
            "probes": [[v["probe"], v["phase"], v.get("measured")] for v in data["steady_state"]]}
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def verdict(journal: Journal) -> str:
    return "\n".join(journal.summary_lines())
