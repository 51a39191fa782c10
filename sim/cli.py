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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swsim",
        description="SyncWell Sim: the SyncWell backend on one machine, offline, with load, chaos and capacity tools.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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


if __name__ == "__main__":
    sys.exit(main())
