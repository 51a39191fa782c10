"""The experiment file (YAML): what to load, what must hold, what to break and when, what to check at the end.

    name: redis-outage
    title: Cache cluster failure (Redis down)
    seeds: ["001 §3b Cache cluster failure", "004 §7"]
    load: {model: nominal, dau: 2000, compress: 144, duration_s: 90}
    short: {duration_s: 24, scale: 0.25}          # the test suite's form: timeline scaled down
    method:                                        # FaultSpec envelopes (stack/faults) on a timeline
      - {name: redis-down, type: redis_outage, start_s: 30, duration_s: 30}
    steady_state:                                  # judged before, during and after the faults
      - {probe: api_p99_ms, max: 500}
      - {probe: error_rate, max: 0.01, phases: [before, after]}
    invariants:                                    # checked once the queue has drained
      - ledger
      - no_duplicate_writes
      - {check: no_third_party_calls_during, fault: redis-down}

A malformed file raises :class:`ExperimentError` whose message names the file, the line and what is wrong.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

PHASES = ("before", "during", "after")
# Method entries the runner performs itself instead of handing them to the fault layer.
RUNNER_ACTIONS = frozenset({"traffic_spike", "webhook_storm"})


class ExperimentError(ValueError):
    """The experiment file is wrong; the message says where (file:line) and what."""


@dataclass(frozen=True)
class LoadSpec:
    model: str = "nominal"
    dau: int = 2000
    compress: float = 144.0
    duration_s: float = 60.0
    seed: int = 1
    window_s: float = 2.0
    drain_timeout_s: float = 150.0


@dataclass(frozen=True)
class ShortForm:
    duration_s: float
    scale: float  # multiplies every fault's start and duration
    dau: int | None = None  # the short form's load (denser than the full form's, so a few seconds hold enough jobs)
    window_s: float | None = None  # finer load windows, so a few seconds per phase hold several of them
    recovery_s: float | None = None  # after the last rollback, before "after" is judged (default min(full, 3))

    @classmethod
    def read(cls, data: Mapping[str, Any], source: str) -> "ShortForm":
        r = _Reader(data, source, "short", {"duration_s", "scale", "dau", "window_s", "recovery_s"})
        dau = r.number("dau", None, minimum=1)
        return cls(r.number("duration_s", minimum=1), r.number("scale", 1.0, minimum=0.01),
                   None if dau is None else int(dau), r.number("window_s", None, minimum=0.5),
                   r.number("recovery_s", None, minimum=0))


@dataclass(frozen=True)
class MethodStep:
    """One fault (or runner action) on the timeline; ``envelope`` is the contract's FaultSpec mapping."""

    name: str
    type: str
    start_s: float
    duration_s: float | None
    envelope: Mapping[str, Any]
    line: int

    @property
    def end_s(self) -> float | None:
        return None if self.duration_s is None else self.start_s + self.duration_s

    @property
    def is_runner_action(self) -> bool:
        return self.type in RUNNER_ACTIONS

    def scaled(self, scale: float, offset_s: float = 0.0) -> "MethodStep":
        start = offset_s + self.start_s * scale
        duration = None if self.duration_s is None else self.duration_s * scale
        envelope = {**self.envelope, "start_s": start, "duration_s": duration}
        return dataclasses.replace(self, start_s=start, duration_s=duration, envelope=envelope)


@dataclass(frozen=True)
class ProbeSpec:
    probe: str
    max: float | None = None
    min: float | None = None
    phases: tuple[str, ...] = ("before", "after")
    short_max: float | None = None  # the bound in the short form, when the test machine cannot hold the SLO
    short_min: float | None = None

    def for_short_form(self) -> "ProbeSpec":
        return dataclasses.replace(self, max=self.short_max if self.short_max is not None else self.max,
                                   min=self.short_min if self.short_min is not None else self.min)

    def describe(self) -> str:
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        return f"{self.probe} {' and '.join(bounds)}"


@dataclass(frozen=True)
class InvariantSpec:
    check: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    description: str
    seeds: tuple[str, ...]
    load: LoadSpec
    short: ShortForm
    method: tuple[MethodStep, ...]
    steady_state: tuple[ProbeSpec, ...]
    invariants: tuple[InvariantSpec, ...]
    recovery_s: float = 3.0  # after the last rollback, before the "after" phase is judged
    path: str = ""

    def short_form(self) -> "Experiment":
        """Durations scaled down for the test suite (the same faults, checks and thresholds)."""
        short = self.short
        load = dataclasses.replace(self.load, duration_s=short.duration_s, dau=short.dau or self.load.dau,
                                   window_s=short.window_s or self.load.window_s)
        recovery = short.recovery_s if short.recovery_s is not None else min(self.recovery_s, 3.0)
        return dataclasses.replace(self, load=load, method=tuple(s.scaled(short.scale) for s in self.method),
                                   steady_state=tuple(p.for_short_form() for p in self.steady_state),
                                   recovery_s=recovery)

    def shifted(self, offset_s: float, prefix: str) -> "Experiment":
        """The same experiment starting ``offset_s`` later on a shared timeline (gamedays)."""
        method = tuple(dataclasses.replace(s.scaled(1.0, offset_s), name=f"{prefix}{s.name}",
                                           envelope={**s.scaled(1.0, offset_s).envelope, "name": f"{prefix}{s.name}"})
                       for s in self.method)
        invariants = tuple(InvariantSpec(i.check, {**i.params, **({"fault": f"{prefix}{i.params['fault']}"}
                                                                   if "fault" in i.params else {})})
                           for i in self.invariants)
        return dataclasses.replace(self, method=method, invariants=invariants)

    @property
    def fault_window(self) -> tuple[float, float] | None:
        """(first start, last end) of the method, or None without faults."""
        if not self.method:
            return None
        end = max((s.end_s if s.end_s is not None else s.start_s) for s in self.method)
        return min(s.start_s for s in self.method), end


# ---- loading ---------------------------------------------------------------------------------------------------
class _LineLoader(yaml.SafeLoader):
    """Keeps each mapping's line number under ``__line__`` so errors can point at the file."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_experiment(path: Path) -> Experiment:
    """Parse and validate one experiment file; raises :class:`ExperimentError` with file:line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read: {exc}") from exc
    return parse_experiment(text, str(path))


def parse_experiment(text: str, source: str = "<experiment>") -> Experiment:
    data = _yaml(text, source)
    return experiment_from_mapping(data, source)


def _yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ExperimentError(f"{source}{where}: malformed YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}:1: an experiment is a mapping (name, load, method, ...), "
                              f"got {type(data).__name__}")
    return data


class _Reader:
    """Typed access to one mapping of the file, with errors that say file:line and the key."""

    def __init__(self, data: Mapping[str, Any], source: str, where: str, allowed: set[str]) -> None:
        self.data = data
        self.source = source
        self.where = where
        self.line = int(data.get("__line__", 1))
        unknown = sorted(set(data) - allowed - {"__line__"})
        if unknown:
            self.fail(f"unknown key(s) {unknown} in {where} (allowed: {sorted(allowed)})")

    def fail(self, message: str) -> None:
        raise ExperimentError(f"{self.source}:{self.line}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., what: str = "") -> Any:
        if key not in self.data or self.data[key] is None:
            if default is ...:
                self.fail(f"{self.where} needs '{key}'{what}")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.fail(f"{self.where}.{key} must be a number, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(f"{self.where}.{key} must be {names}, got {value!r}")
        return value

    def number(self, key: str, default: Any = ..., minimum: float | None = None) -> float:
        value = self.get(key, (int, float), default)
        if value is not None and minimum is not None and float(value) < minimum:
            self.fail(f"{self.where}.{key} must be >= {minimum:g}, got {value!r}")
        return value if value is None else float(value)


def _clean(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _clean(v) for k, v in data.items() if k != "__line__"}
    if isinstance(data, list):
        return [_clean(v) for v in data]
    return data


def experiment_from_mapping(data: Mapping[str, Any], source: str) -> Experiment:
    top = _Reader(data, source, "experiment", {"name", "title", "description", "seeds", "load", "short", "method",
                                                "steady_state", "invariants", "recovery_s"})
    name = top.get("name", str)
    load = _load_spec(top.get("load", dict, {}), source)
    short_data = top.get("short", dict, None)
    if short_data is None:
        top.fail("experiment needs 'short' (duration_s and scale): the form the test suite runs")
    short = ShortForm.read(short_data, source)
    method = tuple(_method_step(entry, source, index) for index, entry in enumerate(top.get("method", list, [])))
    names = [s.name for s in method]
    if len(set(names)) != len(names):
        top.fail(f"method step names must be unique, got {names}")
    probes = tuple(_probe(entry, source) for entry in top.get("steady_state", list, []))
    invariants = tuple(_invariant(entry, source, set(names)) for entry in top.get("invariants", list, []))
    experiment = Experiment(name=name, title=top.get("title", str, name), description=top.get("description", str, ""),
                            seeds=tuple(str(s) for s in top.get("seeds", list, [])), load=load, short=short,
                            method=method, steady_state=probes, invariants=invariants,
                            recovery_s=top.number("recovery_s", 5.0, minimum=0), path=source)
    for step in method:
        if step.start_s > load.duration_s:
            raise ExperimentError(f"{source}:{step.line}: fault {step.name!r} starts at {step.start_s:g} s, after "
                                  f"the load ends ({load.duration_s:g} s)")
    return experiment


def _load_spec(data: Mapping[str, Any], source: str) -> LoadSpec:
    r = _Reader(data, source, "load", {f.name for f in dataclasses.fields(LoadSpec)})
    defaults = LoadSpec()
    return LoadSpec(model=r.get("model", str, defaults.model), dau=int(r.number("dau", defaults.dau, minimum=1)),
                    compress=r.number("compress", defaults.compress, minimum=0.001),
                    duration_s=r.number("duration_s", defaults.duration_s, minimum=1),
                    seed=int(r.number("seed", defaults.seed)), window_s=r.number("window_s", defaults.window_s, 0.5),
                    drain_timeout_s=r.number("drain_timeout_s", defaults.drain_timeout_s, minimum=1))


def _method_step(entry: Any, source: str, index: int) -> MethodStep:
    if not isinstance(entry, dict):
        raise ExperimentError(f"{source}: method[{index}] must be a mapping (name, type, start_s, ...), "
                              f"got {entry!r}")
    r = _Reader(entry, source, f"method[{index}]", {"name", "type", "target", "probability", "attributes",
                                                     "start_s", "duration_s", "seed"})
    step_type = r.get("type", str)
    name = r.get("name", str, f"{step_type}-{index}")
    start = r.number("start_s", 0.0, minimum=0)
    duration = r.number("duration_s", None, minimum=0)
    probability = r.number("probability", 1.0)
    if not 0.0 <= probability <= 1.0:
        r.fail(f"method[{index}].probability must be within 0..1, got {probability:g}")
    envelope = {"name": name, "type": step_type, "target": _clean(r.get("target", dict, {})),
                "probability": probability, "attributes": _clean(r.get("attributes", dict, {})),
                "start_s": start, "duration_s": duration, "seed": r.get("seed", int, None)}
    if step_type not in RUNNER_ACTIONS:
        _validate_fault(envelope, source, r.line)
    elif step_type == "traffic_spike":
        multiplier = envelope["attributes"].get("multiplier")
        if not isinstance(multiplier, (int, float)) or multiplier < 1:
            r.fail(f"traffic_spike {name!r} needs attributes.multiplier >= 1 (Runbook 1: 5-10x), got {multiplier!r}")
        if duration is None:
            r.fail(f"traffic_spike {name!r} needs duration_s")
    return MethodStep(name=name, type=step_type, start_s=start, duration_s=duration, envelope=envelope, line=r.line)


def _validate_fault(envelope: Mapping[str, Any], source: str, line: int) -> None:
    """Ask the fault layer whether it knows this fault (unknown type, bad attributes...)."""
    from sim.chaos.faults import FaultLayerError, validate

    try:
        validate(envelope)
    except FaultLayerError as exc:
        raise ExperimentError(f"{source}:{line}: fault {envelope['name']!r}: {exc}") from exc


def _probe(entry: Any, source: str) -> ProbeSpec:
    from sim.chaos.probes import PROBES

    if not isinstance(entry, dict):
        raise ExperimentError(f"{source}: steady_state entries are mappings {{probe, max|min, phases}}, got {entry!r}")
    r = _Reader(entry, source, "steady_state", {"probe", "max", "min", "phases", "short_max", "short_min"})
    probe = r.get("probe", str)
    if probe not in PROBES:
        r.fail(f"unknown probe {probe!r} (known: {sorted(PROBES)})")
    phases = tuple(r.get("phases", list, ["before", "after"]))
    bad = [p for p in phases if p not in PHASES]
    if bad or not phases:
        r.fail(f"steady_state.phases must be a non-empty subset of {list(PHASES)}, got {list(phases)}")
    spec = ProbeSpec(probe, r.number("max", None), r.number("min", None), phases, r.number("short_max", None),
                     r.number("short_min", None))
    if spec.max is None and spec.min is None:
        r.fail(f"probe {probe!r} needs max or min")
    return spec


def _invariant(entry: Any, source: str, step_names: set[str]) -> InvariantSpec:
    from sim.chaos.invariants import INVARIANTS

    if isinstance(entry, str):
        entry = {"check": entry}
    if not isinstance(entry, dict):
        raise ExperimentError(f"{source}: invariants are names or mappings {{check, ...}}, got {entry!r}")
    line = entry.get("__line__", 1)
    params = _clean(entry)
    check = params.pop("check", None)
    if check not in INVARIANTS:
        raise ExperimentError(f"{source}:{line}: unknown invariant {check!r} (known: {sorted(INVARIANTS)})")
    fault = params.get("fault")
    if fault is not None and fault not in step_names:
        raise ExperimentError(f"{source}:{line}: invariant {check!r} names fault {fault!r}, which is not in the "
                              f"method (have {sorted(step_names)})")
    return InvariantSpec(check, params)
