"""Edge of ``swsim capacity fit`` and ``swsim capacity beta generate`` (being built)."""
from __future__ import annotations

import argparse

from sim.errors import UsageError


def run_fit(args: argparse.Namespace) -> int:
    raise UsageError("capacity fit is not available yet")


def run_generate(args: argparse.Namespace) -> int:
    raise UsageError("capacity beta generate is not available yet")
