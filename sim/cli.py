"""The ``swsim`` command line: it only parses arguments and calls library code.

Each subcommand lives in its own module under ``sim/commands/`` and exposes
``register(subparsers) -> None``; the module adds its parser and sets ``func`` (a callable taking the parsed
namespace and returning an exit code). Discovery is automatic, so adding a command touches no other file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from sim import commands
from sim.errors import CheckFailed, SwsimError

EPILOG = """\
exit codes: 0 success, 1 a gate/hypothesis/invariant failed, 2 usage or setup error.
Run 'swsim COMMAND --help' for the options of one command."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``only``) one command's: its module alone is imported, since some commands pull in
    numpy/numba/httpx at registration and ``swsim up`` should not pay seconds of imports before it starts."""
    parser = argparse.ArgumentParser(
        prog="swsim",
        description="SyncWell Sim: the SyncWell backend on one machine, offline, with load, chaos and capacity tools.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or (only is not None and info.name != only):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_module(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CheckFailed as exc:
        print(f"swsim: FAILED: {exc}", file=sys.stderr)
        return exc.exit_code
    except SwsimError as exc:
        print(f"swsim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("swsim: interrupted", file=sys.stderr)
        return 130


def _command_module(argv: Sequence[str]) -> str | None:
    """The module of the command named first in ``argv`` when it is one module's own command, else None (all)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    names = {info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")}
    return first if first in names and not first.startswith("_") else None


if __name__ == "__main__":
    sys.exit(main())
