"""``swsim gameday FILE``: several experiments on one timeline (seed 001 §3b: a quarterly gameday)."""
from __future__ import annotations

import argparse
from pathlib import Path

from sim.errors import CheckFailed

DESCRIPTION = """\
A gameday file (YAML, scenarios/chaos/gamedays/) places catalog experiments on one timeline under one load:

  name: quarterly
  load: {dau: 1500, duration_s: 180}
  short: {duration_s: 45, scale: 0.25, dau: 400}
  experiments:
    - {experiment: worker-kill, at_s: 20}
    - {experiment: redis-outage, at_s: 80}

Each experiment's faults are shifted by its at_s (names prefixed with the experiment's name); every steady-state
probe and invariant of every experiment is judged on the shared run. Writes journal.json and report.html;
exit 0 all held, 1 something failed, 2 usage error."""


def register(subparsers: argparse._SubParsersAction) -> None:
    from sim.commands.chaos import add_run_options

    parser = subparsers.add_parser("gameday", help="run several chaos experiments on one timeline",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="gameday YAML file")
    add_run_options(parser)
    parser.set_defaults(func=gameday_command)


def gameday_command(args: argparse.Namespace) -> int:
    from sim.chaos.gameday import load_gameday
    from sim.chaos.runner import run_experiment
    from sim.commands.chaos import run_with_stack

    experiment = load_gameday(args.file, short=args.short)
    out = args.out or Path("runs/gameday") / experiment.name
    journal = run_with_stack(lambda stack: run_experiment(experiment, stack, out, short=args.short), args)
    print("\n".join(journal.summary_lines()))
    print(f"journal: {out / 'journal.json'}\nreport:  {out / 'report.html'}")
    if not journal.passed:
        raise CheckFailed(f"gameday {experiment.name} failed: " + "; ".join(journal.failures[:3]))
    return 0
