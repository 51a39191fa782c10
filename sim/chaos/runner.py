"""Run one experiment against a running stack: load, faults on a timeline, probes, invariants, journal, report.

    journal = run_experiment(load_experiment(path).short_form(), stack, out_dir)
    journal.exit_code   # 0 hypothesis and invariants held, 1 something failed

The load is the SyncWell open-model replay (``sim.load.schedule_for`` + ``scenarios.engine.OpenModelRun``) with
the builders of :mod:`sim.chaos.builders` (they record every accepted job). The experiment clock's 0 is the
load's first scheduled instant, taken from the driver's first progress snapshot, so fault windows, load windows
and samples share one time axis.
"""
from __future__ import annotations

import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from scenarios.syncwell import CONTEXT_ENV, write_context
from sim.chaos import evidence as collect
from sim.chaos.builders import ACCEPTED_FILE_ENV, BUILDERS, RUN_ID_ENV, read_accepted
from sim.chaos.experiment import Experiment, MethodStep
from sim.chaos.faults import FaultTarget, Rollback, apply
from sim.chaos.invariants import INVARIANTS, Evidence, FaultRecord, InvariantResult
from sim.chaos.journal import Journal
from sim.chaos.observe import Clock, Observer
from sim.chaos.probes import ProbeInput, all_phase_figures, measure, phases_for
from sim.errors import SetupError

PROVIDERS = ("strava", "fitbit", "garmin")


@dataclass
class _Timeline:
    """Applies and rolls back the method's faults at their times on the experiment clock (one thread)."""

    steps: Sequence[MethodStep]
    target: FaultTarget
    clock: Clock
    actions: dict[str, Callable[[MethodStep], Rollback]]
    records: dict[str, FaultRecord] = field(default_factory=dict)
    rollbacks: dict[str, Rollback] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for s in self.steps:
            self.records[s.name] = FaultRecord(s.name, s.type, s.start_s, s.end_s)
        self.thread = threading.Thread(target=self._run, name="chaos-timeline", daemon=True)

    def _run(self) -> None:
        if not self.clock.started.wait(timeout=120):
            return
        agenda: list[tuple[float, int, str, MethodStep]] = []
        for s in self.steps:
            agenda.append((s.start_s, 1, "apply", s))
            if s.end_s is not None:
                agenda.append((s.end_s, 0, "rollback", s))
        agenda.sort(key=lambda entry: (entry[0], entry[1]))
        for at, _, what, step in agenda:
            if self.stop.wait(max(0.0, at - self.clock.now())):
                return
            if what == "apply":
                self._apply(step)
            else:
                self.rollback(step.name)

    def _apply(self, step: MethodStep) -> None:
        started = self.clock.now()
        try:
            action = self.actions.get(step.type)
            rollback = action(step) if action else apply(step.envelope, self.target)
        except Exception as exc:  # recorded: a fault that could not be applied fails the experiment
            with self.lock:
                self.records[step.name] = replace(self.records[step.name], error=f"{type(exc).__name__}: {exc}")
            print(f"[chaos] {started:6.1f}s could not apply {step.name}: {exc}", file=sys.stderr, flush=True)
            return
        with self.lock:
            self.rollbacks[step.name] = rollback
            self.records[step.name] = replace(self.records[step.name], applied_at_s=started)
        print(f"[chaos] {started:6.1f}s applied {step.name} ({step.type})", file=sys.stderr, flush=True)

    def rollback(self, name: str) -> None:
        with self.lock:
            rollback = self.rollbacks.pop(name, None)
        if rollback is None:
            return
        try:
            rollback()
        except Exception as exc:
            with self.lock:
                self.records[name] = replace(self.records[name], error=f"rollback failed: {exc}")
        at = self.clock.now()
        with self.lock:
            self.records[name] = replace(self.records[name], rolled_back_at_s=at)
        print(f"[chaos] {at:6.1f}s rolled back {name}", file=sys.stderr, flush=True)

    def finish(self) -> list[FaultRecord]:
        self.stop.set()
        self.thread.join(timeout=120)
        for name in list(self.rollbacks):
            self.rollback(name)
        return [self.records[s.name] for s in self.steps]


def spike_schedule(events: list[Any], steps: Sequence[MethodStep], seed: int) -> list[Any]:
    """Runbook 1's 5-10x spike: inside each traffic_spike window, every arrival comes ``multiplier`` times
    (the copies jittered by up to 50 ms, deterministically), so the arrival rate is multiplied for the window."""
    from sim.schedule import ArrivalEvent

    rng = random.Random(seed)
    extra: list[Any] = []
    for step in steps:
        if step.type != "traffic_spike" or step.end_s is None:
            continue
        copies = int(round(float(step.envelope["attributes"]["multiplier"]))) - 1
        for event in events:
            if step.start_s <= event.at_s < step.end_s:
                extra.extend(ArrivalEvent(event.at_s + rng.uniform(0.0005, 0.05), event.kind, event.user_index,
                                          event.payload_bytes) for _ in range(copies))
    return sorted(events + extra, key=lambda e: e.at_s)


class _WebhookStorm:
    """``webhook_storm``: each of ``users`` seeded users' providers notifies ``notifications`` times at once."""

    def __init__(self, stack: Any, clock: Clock) -> None:
        self.stack = stack
        self.clock = clock
        self.facts: dict[str, Any] = {}

    def __call__(self, step: MethodStep) -> Rollback:
        from fake_providers.control import FakeControl

        attributes = step.envelope.get("attributes") or {}
        count = int(attributes.get("users", 5))
        per_user = int(attributes.get("notifications", 5))
        provider = str(attributes.get("provider", "strava"))
        chosen = [u for u in self.stack.users if any(c.provider == provider for c in u.connections)][:count]
        started = time.time()
        with FakeControl(self.stack.fake_url(provider)) as control:
            for user in chosen:
                connection = next(c for c in user.connections if c.provider == provider)
                for _ in range(per_user):
                    control.emit_webhook(connection.provider_user_id, wait=False)
        self.facts = {"users": [u.user_id for u in chosen], "provider": provider,
                      "notifications": per_user * len(chosen), "started_epoch": started, "ended_epoch": time.time()}
        return lambda: None


def _context(stack: Any, out_dir: Path, load_seed: int, ttl_s: float) -> Path:
    from sim.load import LoadOptions, _context_users

    options = LoadOptions(duration_s=ttl_s, drain_timeout_s=0)
    users = _context_users(stack.users, stack.minter, options)
    fakes = {p: stack.fake_url(p) for p in PROVIDERS if f"fake-{p}" in stack.endpoints}
    return write_context(out_dir / "scenario-context.json", users, fakes, load_seed)


def run_experiment(experiment: Experiment, stack: Any, out_dir: Path, *, short: bool = False) -> Journal:
    """Run ``experiment`` (already in its short form when ``short``) against ``stack``; write the journal and
    report into ``out_dir`` and return the journal."""
    from scenarios.engine import OpenModelRun
    from sim.load import LoadOptions, schedule_for

    setup_started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    load = experiment.load
    options = LoadOptions(model=load.model, dau=load.dau, compress=load.compress, duration_s=load.duration_s,
                          seed=load.seed)
    events = spike_schedule(schedule_for(options), experiment.method, load.seed)
    if not events:
        raise SetupError(f"experiment {experiment.name}: the load schedule is empty (raise dau or compress)")
    accepted_file = out_dir / "accepted-jobs.txt"
    accepted_file.unlink(missing_ok=True)
    os.environ[CONTEXT_ENV] = str(_context(stack, out_dir, load.seed, load.duration_s + 3600).resolve())
    os.environ[ACCEPTED_FILE_ENV] = str(accepted_file.resolve())
    os.environ[RUN_ID_ENV] = f"{experiment.name}:{time.time_ns()}"

    clock = Clock()
    fakes = {p: stack.fake_url(p) for p in PROVIDERS if f"fake-{p}" in stack.endpoints}
    observer = Observer(stack.aws_env, fakes, clock, interval_s=0.5).start()
    storm = _WebhookStorm(stack, clock)
    timeline = _Timeline(experiment.method, FaultTarget(stack, load.seed, random.Random(load.seed)), clock,
                         {"traffic_spike": lambda step: (lambda: None), "webhook_storm": storm})
    run = OpenModelRun(stack.api_url, events, BUILDERS, window_s=load.window_s, out_dir=out_dir / "load",
                       progress_interval_s=0.5, print_progress_lines=False)
    run.events.progress.add_listener(lambda snapshot: clock.start_at(time.monotonic() - snapshot.elapsed_s))
    writes_before = collect.write_counts(fakes)
    timeline.thread.start()
    started_at = time.time()
    load_started = time.monotonic()
    print(f"[chaos] {experiment.name}: {len(events)} requests over {load.duration_s:g} s, "
          f"{len(experiment.method)} method steps", file=sys.stderr, flush=True)
    try:
        result = run.run()
    finally:
        records = timeline.finish()
    load_s = time.monotonic() - load_started
    drain_started = time.monotonic()
    drained = observer.drain(load.drain_timeout_s, dlq_consumer=has_dlq_consumer(stack))
    drain_s = time.monotonic() - drain_started
    observer.stop()
    evidence = collect_evidence(stack, fakes, read_accepted(accepted_file), started_at, writes_before,
                                series=observer.snapshot(), recorder=result.recorder, faults=records, drained=drained,
                                extra={"webhook_storm": storm.facts})
    journal = judge(experiment, evidence, out_dir, short=short, started_at=started_at, drain_s=drain_s)
    print(f"[chaos] {experiment.name}: setup {load_started - setup_started:.1f} s, load {load_s:.1f} s, drain "
          f"{drain_s:.1f} s, evidence and report {time.monotonic() - drain_started - drain_s:.1f} s",
          file=sys.stderr, flush=True)
    return journal


def has_dlq_consumer(stack: Any) -> bool:
    """The stack runs the DLQ consumer (stack/dlq): dead letters are read from its archive."""
    return "dlq" in getattr(stack, "processes", {})


def collect_evidence(stack: Any, fakes: dict[str, str], accepted: list[tuple[str, str]], started_at: float,
                     writes_before: dict[str, int], **rest: Any) -> Evidence:
    """What the invariants judge, scoped to this experiment on a possibly shared stack: its accepted jobs and
    the jobs created since it started, the dead letters archived since, its writes (checked against all)."""
    ids = {job_id for _, job_id in accepted}
    jobs = collect.job_items(stack.aws_env, only=lambda item: str(item.get("jobId")) in ids
                             or float(item.get("createdAt") or 0) >= started_at)
    if has_dlq_consumer(stack):
        letters = collect.archived_dead_letters(stack.aws_env, started_at)
    else:
        letters = collect.read_and_clear_dlq(stack.aws_env)
    return Evidence(accepted=accepted, jobs=jobs, dead_letters=letters,
                    writes=collect.destination_writes(fakes, writes_before), **rest)


def judge(experiment: Experiment, evidence: Evidence, out_dir: Path, *, short: bool, started_at: float,
          drain_s: float) -> Journal:
    """Probes per phase and invariants over the evidence; writes journal.json and report.html."""
    load_end = experiment.load.duration_s
    windows = [r.window for r in evidence.faults if r.window is not None and r.type != "noop"]
    phases = phases_for([w for w in windows if w is not None], load_end, experiment.recovery_s)
    data = ProbeInput(evidence.recorder, evidence.series)
    verdicts = [measure(spec, phase, phases, data) for spec in experiment.steady_state for phase in spec.phases]
    invariants: list[InvariantResult] = []
    for spec in experiment.invariants:
        try:
            invariants.append(INVARIANTS[spec.check](evidence, spec.params))
        except Exception as exc:  # a check that cannot be evaluated is a failed check, with the reason
            invariants.append(InvariantResult(spec.check, False, f"could not be evaluated: {exc!r}"))
    fault_errors = [f"{r.name}: {r.error}" for r in evidence.faults if r.error]
    journal = Journal.build(experiment, short=short, started_at=started_at, drain_s=drain_s, phases=phases,
                            verdicts=verdicts, invariants=invariants, evidence=evidence,
                            figures=all_phase_figures(phases, data), fault_errors=fault_errors)
    journal.write(out_dir)
    return journal

