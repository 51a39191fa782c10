"""``swsim gameday FILE``: several experiments on one timeline (seed 001 §3b: a quarterly gameday)."""
from __future__ import annotations

import argparse
from pathlib import Path

from sim.errors import CheckFailed, UsageError

DESCRIPTION = """\
A gameday file (YAML, scenarios/chaos/gamedays/) places catalog experiments on one timeline under one load:

  name: quarterly
  load: {dau: 1500, duration_s: 180}
  short: {duration_s: 45, scale: 0.25, dau: 400}
  experiments:
    - {experiment: worker-kill, at_s: 20}
    - {experiment: redis-outage, at_s: 80}

Each experiment's faults are shifted by its at_s (names prefixed with the experiment's name); every steady-state
probe and invariant of every experiment is judged on the shared run. Writes journal.json and report.html.

A file with 'kind: region-outage' (scenarios/chaos/gamedays/region-outage.yaml) is a region rehearsal instead:
it starts its own two regions (--users, --seed and --stack-state do not apply; the file says), kills the primary
and reports detection, RTO, RPO and failback against the seeds' targets, as 'swsim region rehearse' does (that
command also takes the region's flags: --lag, --interval, --failback ...). Writes report.json and report.html.

Exit 0 all held, 1 something failed, 2 usage error."""


def register(subparsers: argparse._SubParsersAction) -> None:
    from sim.commands.chaos import add_run_options

    parser = subparsers.add_parser("gameday", help="run several chaos experiments on one timeline",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="gameday YAML file")
    add_run_options(parser)
    parser.set_defaults(func=gameday_command)


def gameday_command(args: argparse.Namespace) -> int:
    from sim.chaos.gameday import REGION_OUTAGE, gameday_kind

    if gameday_kind(args.file) == REGION_OUTAGE:
        return region_gameday(args)
    return timeline_gameday(args)


def timeline_gameday(args: argparse.Namespace) -> int:
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


def region_gameday(args: argparse.Namespace) -> int:
    """The region rehearsal of a ``kind: region-outage`` file: its own two regions, exit 1 if an invariant failed."""
    if args.stack_state is not None:
        raise UsageError(f"{args.file}: a region-outage gameday starts its own two regions; --stack-state does not "
                         f"apply (use 'swsim region up' and 'swsim region rehearse' to keep a pair running)")
    from sim.commands.region import execute_rehearsal
    from stack.region.plan import load_plan

    plan = load_plan(args.file, short=args.short)
    return execute_rehearsal(plan, args.out or Path("runs/gameday") / plan.name)
