"""``swsim chaos list | run NAME|FILE | soak``: chaos experiments against the SyncWell stack."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.errors import CheckFailed, UsageError

DESCRIPTION = """\
Chaos experiments (seed 001 §3b, 004 §7): each experiment file (YAML, scenarios/chaos/experiments/) names a
steady-state hypothesis measured from the live load (API p99, error rate, queue and DLQ depth, third-party call
rate), a method (faults with a start and a duration on a timeline), and invariants checked once the queue has
drained (every accepted job SUCCEEDED or in the DLQ with a reason; no duplicate destination write; no
third-party call while Redis is down; 503s fast while DynamoDB is down; throttling never dead-letters; permanent
failures reach the DLQ after exactly 5 receives).

Each run writes journal.json and report.html (faults shaded on the latency, throughput and queue charts) to
--out, prints the verdicts, and exits 0 (held), 1 (a hypothesis or invariant failed) or 2 (usage error)."""

EPILOG = """\
examples:
  swsim chaos list
  swsim chaos run redis-outage --out runs/chaos/redis
  swsim chaos run redis-outage --short              # the test suite's form (~20 s of load)
  swsim chaos run my-experiment.yaml --stack-state /tmp/swsim-stack-x   # a stack started by 'swsim up'
  swsim chaos soak --rounds 100                      # kill -9 a worker mid-batch 100 times
  swsim gameday scenarios/chaos/gamedays/quarterly.yaml"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("chaos", help="run chaos experiments (faults + steady state + invariants)",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="chaos_action", metavar="{list,run,soak}")
    listing = actions.add_parser("list", help="the experiment catalog (name, title, faults)")
    listing.add_argument("--types", action="store_true", help="also list the fault types the fault layer knows")
    listing.set_defaults(func=list_command)
    run = actions.add_parser("run", help="run one experiment (catalog name or YAML file)",
                             description="Run one experiment: start the embedded stack (or use --stack-state), "
                                         "replay the load, apply the faults on their timeline, judge.")
    run.add_argument("experiment", help="catalog name (see 'swsim chaos list') or path to a YAML file")
    add_run_options(run)
    run.set_defaults(func=run_command)
    from sim.chaos.soak import add_soak_parser

    add_soak_parser(actions)
    parser.set_defaults(func=lambda args: _no_action(parser))


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--short", action="store_true",
                        help="the experiment's short form (durations scaled down, lighter load; what tests run)")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default runs/chaos/NAME)")
    parser.add_argument("--users", type=int, default=20, help="users the embedded stack seeds (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the stack and the fault draws (default 1)")
    parser.add_argument("--stack-state", type=Path, default=None,
                        help="use a stack started by 'swsim up' (its state dir or state.json) instead of starting "
                             "one; its tuning is then whatever it was started with")


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    raise UsageError("choose an action: list, run or soak")


def list_command(args: argparse.Namespace) -> int:
    from sim.chaos.catalog import catalog
    from sim.chaos.experiment import ExperimentError
    from sim.chaos.faults import known_types

    try:
        experiments = catalog()
    except ExperimentError as exc:
        raise UsageError(str(exc)) from exc
    width = max(len(name) for name in experiments)
    for name, experiment in sorted(experiments.items()):
        faults = ", ".join(f"{s.type}@{s.start_s:g}s" for s in experiment.method)
        print(f"{name:<{width}}  {experiment.title}  [{faults}]")
    if args.types:
        print("\nfault types:")
        for name, description in known_types().items():
            print(f"  {name:<22} {description}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from sim.chaos.catalog import resolve

    experiment = resolve(args.experiment)
    if args.short:
        experiment = experiment.short_form()
    out = args.out or Path("runs/chaos") / experiment.name
    journal = run_with_stack(lambda stack: _run(experiment, stack, out, args.short), args)
    print("\n".join(journal.summary_lines()))
    print(f"journal: {out / 'journal.json'}\nreport:  {out / 'report.html'}")
    if not journal.passed:
        raise CheckFailed(f"experiment {experiment.name} failed: " + "; ".join(journal.failures[:3]))
    return 0


def _run(experiment, stack, out: Path, short: bool):  # type: ignore[no-untyped-def]
    from sim.chaos.runner import run_experiment

    return run_experiment(experiment, stack, out, short=short)


def run_with_stack(body, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Run ``body(stack)`` on the stack of --stack-state, or on an embedded chaos stack started (and stopped) here."""
    from sim.chaos.stackprep import prepare, start_stack
    from sim.errors import SetupError

    if args.stack_state is not None:
        from sim.chaos.attached import AttachedStack

        stack = AttachedStack.from_state(args.stack_state)
        prepare(stack)
        return body(stack)
    from stack.launcher.stack import StackStartError

    print(f"starting the embedded stack ({args.users} users) ...", file=sys.stderr, flush=True)
    try:
        stack = start_stack(users=args.users, seed=args.seed)
    except StackStartError as exc:
        raise SetupError(f"the embedded stack did not start: {exc}") from exc
    with stack:
        return body(stack)
