"""Short forms of the dependency-failure experiments on one shared stack: Redis (cache cluster), DynamoDB down
and throttled, SQS down, Secrets Manager down."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.conftest import run_short, verdict

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["redis-outage", "dynamodb-outage", "dynamodb-throttling", "sqs-outage",
                                  "secretsmanager-outage"])
def test_dependency_experiment_holds(name: str, chaos_stack: object, tmp_path: Path) -> None:
    journal = run_short(name, chaos_stack, tmp_path)
    assert journal.passed, verdict(journal)
