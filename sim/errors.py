"""The one exception tree of the swsim command line.

Library code raises these; ``sim.cli`` turns them into a message on stderr and an exit code in exactly
one place, so a user's mistake never shows a traceback.
"""
from __future__ import annotations


class SwsimError(Exception):
    """A usage or setup problem the user can fix: bad flag, bad file, port in use... Exit code 2."""

    exit_code = 2


class UsageError(SwsimError):
    """The command line or an input file is wrong."""


class SetupError(SwsimError):
    """The environment could not be prepared (a process did not start, a dependency is missing)."""


class CheckFailed(Exception):
    """A gate, hypothesis or invariant failed: the run worked but the system under test did not pass. Exit 1."""

    exit_code = 1
