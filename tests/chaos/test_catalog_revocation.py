"""Token revocation's short form, on a stack of its own: the fakes revoke every Strava grant for good (as a user
who disconnects the app), which would break the experiments that share the catalog stack after it.

The revoked jobs fail for good: each reaches the DLQ after exactly 5 receives, and the DLQ consumer (stack/dlq)
records why on the job; the ledger accounts for every accepted job."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from sim.chaos.stackprep import prepare, stack_options
from tests.chaos.conftest import run_short, verdict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def revocation_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from stack.launcher import Stack

    with Stack.start(state_dir=tmp_path_factory.mktemp("revocation-stack"), deadline_s=120,
                     **stack_options(users=12)) as stack:
        prepare(stack)
        yield stack


def test_token_revocation_dead_letters_with_a_reason(revocation_stack: object, tmp_path: Path) -> None:
    journal = run_short("token-revocation", revocation_stack, tmp_path)
    assert journal.passed, verdict(journal)
    letters = journal.data["dead_letters"]
    assert letters and all(d["receives"] == 5 and d["error"] for d in letters), letters
