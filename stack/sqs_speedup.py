"""Keeps moto's SQS fast at depth (work in progress: install() is a no-op until the indexed queue lands)."""
from __future__ import annotations


def install() -> None:
    """Patch moto's SQS queue model before serving (no-op for now)."""
