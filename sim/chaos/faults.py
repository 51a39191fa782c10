"""The bridge to the fault layer: validate a method step's envelope and apply it to a running stack.

The fault layer is ``stack/faults`` (FaultSpec envelopes, a registry of fault types, ``apply(ctx) -> rollback``).
Until a type exists there, a small built-in set covers what the running :class:`stack.launcher.Stack` and the
fakes' control API can do on their own (process kill/pause, Redis down by killing it, provider faults through
``POST /_fake/faults``), so the experiments run either way; the registry always wins when it knows the type.
"""
from __future__ import annotations

import random
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from fake_providers.control import ControlAPIError, FakeControl

Rollback = Callable[[], None]
PROVIDERS = ("strava", "fitbit", "garmin")
# Contract fault type -> the fakes' own fault type (fake_providers/README.md, "Faults").
FAKE_FAULT_TYPES = {"provider_latency": "latency", "provider_error": "error", "provider_429_storm": "rate_limit_storm",
                    "provider_hang": "hang", "provider_reset": "connection_reset",
                    "token_revocation": "token_revocation", "webhook_duplicates": "webhook_duplicate",
                    "webhook_reorder": "webhook_out_of_order"}
BUILTIN_TYPES = frozenset(FAKE_FAULT_TYPES) | {"process_kill", "process_pause", "az_failure", "worker_crash_loop",
                                               "redis_outage", "noop"}


class FaultLayerError(ValueError):
    """A fault envelope the fault layer rejects (unknown type, bad attributes), or that failed to apply."""


def _registry() -> Any | None:
    try:
        from stack.faults import registry
    except ImportError:
        return None
    return registry


def known_types() -> dict[str, str]:
    """Fault type -> one-line description (the registry's, plus built-ins it does not have)."""
    types = {name: "built-in (sim/chaos/faults.py)" for name in sorted(BUILTIN_TYPES)}
    registry = _registry()
    if registry is not None:
        for name, cls in registry.fault_types().items():
            types[name] = str(getattr(cls, "description", ""))
    return types


def _spec(envelope: Mapping[str, Any]) -> Any:
    from stack.faults.envelope import FaultDefinitionError, FaultSpec

    try:
        return FaultSpec.from_mapping(dict(envelope))
    except FaultDefinitionError as exc:
        raise FaultLayerError(str(exc)) from exc


def _registry_knows(envelope: Mapping[str, Any]) -> bool:
    registry = _registry()
    if registry is None:
        return False
    return envelope["type"] in registry.fault_types()


def validate(envelope: Mapping[str, Any]) -> None:
    if _registry_knows(envelope):
        from stack.faults.envelope import FaultDefinitionError

        try:
            _registry().build_fault(_spec(envelope))  # type: ignore[union-attr]
        except FaultDefinitionError as exc:
            raise FaultLayerError(str(exc)) from exc
        return
    if envelope["type"] not in BUILTIN_TYPES:
        raise FaultLayerError(f"unknown fault type {envelope['type']!r} (known: {sorted(known_types())})")


@dataclass
class FaultTarget:
    """What a fault is applied to: the running stack (process control, endpoints) and a seeded RNG."""

    stack: Any
    seed: int = 1
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    _context: Any = None

    def context(self) -> Any:
        if self._context is None:
            from stack.faults.context import FaultContext

            own = getattr(self.stack, "fault_context", None)  # a stack attached through its state file
            self._context = own(self.seed) if own else FaultContext.from_stack(self.stack, seed=self.seed)
        return self._context

    @property
    def worker_names(self) -> list[str]:
        names = getattr(self.stack, "worker_names", None)
        if names:
            return list(names)
        return sorted(n for n in self.stack.processes if n == "worker" or n.startswith("worker-"))


def apply(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    """Inject the fault now; the returned rollback undoes exactly it (idempotent)."""
    if _registry_knows(envelope):
        fault = _registry().build_fault(_spec(envelope))  # type: ignore[union-attr]
        return _once(fault.apply(target.context()))
    kind = str(envelope["type"])
    if kind in FAKE_FAULT_TYPES:
        return _once(_fake_fault(envelope, target))
    builtin = {"process_kill": _process_kill, "process_pause": _process_pause, "az_failure": _az_failure,
               "worker_crash_loop": _worker_crash_loop, "redis_outage": _redis_outage,
               "noop": lambda e, t: (lambda: None)}.get(kind)
    if builtin is None:
        raise FaultLayerError(f"unknown fault type {kind!r}")
    return _once(builtin(envelope, target))


def _once(rollback: Rollback) -> Rollback:
    done = threading.Event()

    def run() -> None:
        if not done.is_set():
            done.set()
            rollback()

    return run


# ---- built-ins ---------------------------------------------------------------------------------------------------
def _fake_fault(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    fault_target = dict(envelope.get("target") or {})
    provider = fault_target.pop("provider", None)
    providers = [provider] if provider else [p for p in PROVIDERS if f"fake-{p}" in target.stack.endpoints]
    body = {"name": envelope["name"], "type": FAKE_FAULT_TYPES[str(envelope["type"])], "target": fault_target,
            "probability": envelope.get("probability", 1.0), "attributes": dict(envelope.get("attributes") or {})}
    installed: list[str] = []
    for name in providers:
        with FakeControl(target.stack.fake_url(name)) as control:
            try:
                control.add_fault_envelope(body)
            except ControlAPIError as exc:
                raise FaultLayerError(f"fake-{name} refused fault {envelope['name']!r}: {exc}") from exc
        installed.append(name)

    def rollback() -> None:
        for name in installed:
            with FakeControl(target.stack.fake_url(name)) as control:
                try:
                    control.delete_fault(str(envelope["name"]))
                except ControlAPIError:
                    pass  # already gone (max_hits reached)

    return rollback


def _processes(envelope: Mapping[str, Any], target: FaultTarget) -> list[str]:
    name = (envelope.get("target") or {}).get("process", "workers")
    if name == "workers":
        workers = target.worker_names
        attributes = envelope.get("attributes") or {}
        count = attributes.get("count")
        if count is None and "fraction" in attributes:
            count = max(1, round(len(workers) * float(attributes["fraction"])))
        return target.rng.sample(workers, min(len(workers), int(count or len(workers))))
    return [str(name)]


def _process_kill(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    names = _processes(envelope, target)
    for name in names:
        target.stack.kill_process(name)
    restart = bool((envelope.get("attributes") or {}).get("restart", True))
    return (lambda: [target.stack.restart_process(n) for n in names]) if restart else (lambda: None)


def _process_pause(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    names = _processes(envelope, target)
    for name in names:
        target.stack.process(name).send_signal(signal.SIGSTOP)
    return lambda: [target.stack.process(n).send_signal(signal.SIGCONT) for n in names]


def _az_failure(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    workers = target.worker_names
    half = target.rng.sample(workers, max(1, len(workers) // 2))
    for name in half:
        target.stack.kill_process(name)
    return lambda: [target.stack.restart_process(n) for n in half]


def _worker_crash_loop(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    interval = float((envelope.get("attributes") or {}).get("interval_s", 3.0))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            name = target.rng.choice(target.worker_names)
            target.stack.kill_process(name)
            target.stack.restart_process(name)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="worker-crash-loop", daemon=True)
    thread.start()

    def rollback() -> None:
        stop.set()
        thread.join(timeout=60)
        for name in target.worker_names:
            if not target.stack.process(name).running:
                target.stack.restart_process(name)

    return rollback


def _redis_outage(envelope: Mapping[str, Any], target: FaultTarget) -> Rollback:
    """Redis killed (connections refused); it comes back empty on the same port, like a rebooted cache node."""
    target.stack.kill_process("redis")
    return lambda: target.stack.restart_process("redis")
