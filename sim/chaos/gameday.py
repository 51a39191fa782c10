"""Gameday files: catalog experiments placed on one timeline, merged into one experiment the runner runs; or, with
``kind: region-outage``, a region rehearsal (two regions, replication, failover: :mod:`stack.region.rehearsal`)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from sim.chaos.catalog import resolve
from sim.chaos.experiment import (Experiment, ExperimentError, InvariantSpec, ShortForm, _load_spec, _Reader,
                                  _yaml)
from sim.errors import UsageError

TIMELINE = "timeline"            # no ``kind``: catalog experiments on one timeline, one stack
REGION_OUTAGE = "region-outage"  # the region rehearsal's file (stack.region.plan)
KINDS = (TIMELINE, REGION_OUTAGE)


def gameday_kind(path: Path) -> str:
    """Which runner a gameday file is for: its ``kind`` (absent: ``timeline``); a usage error for any other."""
    try:
        data = _yaml(path.read_text(), str(path))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    except ExperimentError as exc:
        raise UsageError(str(exc)) from exc
    kind = data.get("kind", TIMELINE) if isinstance(data, dict) else TIMELINE
    if kind not in KINDS:
        raise UsageError(f"{path}: unknown gameday kind {kind!r}; known kinds: {REGION_OUTAGE!r} (a region "
                         f"rehearsal), or no 'kind' for catalog experiments on one timeline")
    return str(kind)


def load_gameday(path: Path, short: bool = False) -> Experiment:
    """The merged experiment of a gameday file (in its short form when ``short``); errors are usage errors."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    source = str(path)
    try:
        data = _yaml(text, source)
        top = _Reader(data, source, "gameday", {"name", "title", "description", "load", "short", "experiments",
                                                 "recovery_s"})
        load = _load_spec(top.get("load", dict, {}), source)
        form = ShortForm.read(top.get("short", dict), source)
        entries = top.get("experiments", list)
        if not entries:
            top.fail("a gameday needs at least one entry under 'experiments'")
        parts: list[Experiment] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                top.fail(f"experiments[{index}] must be a mapping {{experiment, at_s}}, got {entry!r}")
            r = _Reader(entry, source, f"experiments[{index}]", {"experiment", "at_s"})
            name = r.get("experiment", str)
            at = r.number("at_s", 0.0, minimum=0)
            try:
                base = resolve(name)
            except UsageError as exc:
                r.fail(str(exc))
            base_at_zero = dataclasses.replace(base, method=tuple(s.scaled(1.0, -min(x.start_s for x in base.method))
                                                                  for s in base.method)) if base.method else base
            parts.append(base_at_zero.shifted(at, f"{base.name}."))
    except ExperimentError as exc:
        raise UsageError(str(exc)) from exc
    return _merge(top.get("name", str), top.get("title", str, top.get("name", str)),
                  top.get("description", str, ""), load, form, parts, top.number("recovery_s", 5.0, 0), source, short)


def _merge(name: str, title: str, description: str, load, form: ShortForm, parts: list[Experiment],  # type: ignore[no-untyped-def]
           recovery_s: float, source: str, short: bool) -> Experiment:
    method = tuple(step for part in parts for step in part.method)
    probes = tuple(dict.fromkeys(probe for part in parts for probe in part.steady_state))
    invariants: dict[tuple[str, str], InvariantSpec] = {}
    for part in parts:
        for inv in part.invariants:
            invariants[(inv.check, repr(sorted(inv.params.items())))] = inv
    seeds = tuple(dict.fromkeys(seed for part in parts for seed in part.seeds))
    merged = Experiment(name=name, title=title, description=description, seeds=seeds, load=load, short=form,
                        method=method, steady_state=probes, invariants=tuple(invariants.values()),
                        recovery_s=recovery_s, path=source)
    for step in method:
        if step.start_s > load.duration_s:
            raise UsageError(f"{source}: {step.name} starts at {step.start_s:g} s, after the load ends "
                             f"({load.duration_s:g} s)")
    return merged.short_form() if short else merged
