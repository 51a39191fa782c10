"""Pluggable user behaviour: a mapping ``event kind -> request builder``.

A request builder is a module-level function ``(ScheduledEvent) -> RequestSpec | None`` (None skips the event).
It runs inside the Locust processes, so it is passed by import path: ``"package.module:function"`` or
``"path/to/file.py:function"``; a mapping of module-level functions is translated to paths for you. A builder
may attach ``after(followup, response)`` to do more once the answer is in (poll a sync job and record its
end-to-end latency with ``followup.record_latency("manual_sync", followup.elapsed_s())``).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from scenarios.engine.schedule_file import ScheduledEvent


@dataclass(slots=True)
class ResponseInfo:
    status: int  # 0 when no answer
    body: bytes
    headers: Mapping[str, str]
    error_kind: str | None  # transport failure kind when status == 0

    def json(self) -> Any:
        return json.loads(self.body)


class FollowUp(Protocol):
    """What an ``after`` hook can do (implemented by the engine in the Locust process)."""

    event: ScheduledEvent

    def elapsed_s(self) -> float:
        """Seconds since this event's *scheduled* start."""

    def request(self, spec: "RequestSpec") -> ResponseInfo:
        """Send a follow-up request now and return its full response (status, body, headers). It is recorded
        under ``spec.name`` from its own start, and not counted as a start of the schedule. ``spec.after`` is
        not called for follow-ups: use the returned response."""

    def record_latency(self, histogram: str, latency_s: float) -> None:
        """Record into a named end-to-end histogram (window = this event's scheduled window)."""

    def sleep(self, seconds: float) -> None:
        """Cooperative sleep (gevent) for polling loops."""

    def spawn(self, function: Callable[[], None]) -> None:
        """Run ``function`` in its own greenlet so a long poll does not hold a pool slot."""


@dataclass(slots=True)
class RequestSpec:
    """One request to send. Treat as immutable (not frozen: built per request on the hot path)."""

    method: str
    path: str  # relative to the target URL, e.g. "/v1/sync-jobs"
    name: str | None = None  # endpoint label for stats and gates; default "METHOD path"
    headers: Mapping[str, str] | None = None
    body: bytes | None = None
    json: Any = None
    expected_statuses: frozenset[int] | None = None  # e.g. {429} when the scenario means to be throttled
    after: Callable[[FollowUp, ResponseInfo], None] | None = None  # scheduled requests only


    @property
    def label(self) -> str:
        return self.name or f"{self.method.upper()} {self.path}"


RequestBuilder = Callable[[ScheduledEvent], "RequestSpec | None"]


class BuilderError(ValueError):
    """A request builder cannot be located or passed to the load processes."""


def _load_module(module_ref: str) -> Any:
    if module_ref.endswith(".py") or "/" in module_ref:
        path = Path(module_ref).resolve()
        name = f"_swsim_builders_{abs(hash(str(path)))}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise BuilderError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(module_ref)


def resolve_ref(ref: str) -> Any:
    """``module:attr.path`` or ``file.py:attr`` -> the object."""
    module_ref, sep, attr_path = ref.rpartition(":")
    if not sep or not module_ref or not attr_path:
        raise BuilderError(f"{ref!r} is not 'module:attribute' or 'file.py:attribute'")
    try:
        target = _load_module(module_ref)
        for part in attr_path.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, OSError) as exc:
        raise BuilderError(f"cannot resolve {ref!r}: {exc}") from exc
    return target


def ref_of(function: Callable[..., Any]) -> str:
    """The import path of a module-level function, checked to resolve back to the same object."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    if not module or "<" in qualname:
        raise BuilderError(f"{function!r} is not a module-level function; request builders run in the Locust "
                           "processes and must be importable")
    if module == "__main__":
        main_file = getattr(sys.modules["__main__"], "__file__", None)
        if not main_file:
            raise BuilderError(f"{function!r} lives in an interactive __main__ and cannot be imported")
        return f"{Path(main_file).resolve()}:{qualname}"
    ref = f"{module}:{qualname}"
    if resolve_ref(ref) is not function:
        raise BuilderError(f"{ref} does not resolve back to {function!r}")
    return ref


def builder_refs(request_builders: Mapping[str, RequestBuilder] | str) -> dict[str, str]:
    """Normalize the public argument to ``{kind: "module:function"}`` for the load processes."""
    if isinstance(request_builders, str):
        mapping = resolve_ref(request_builders)
        if not isinstance(mapping, Mapping):
            raise BuilderError(f"{request_builders!r} must name a mapping kind -> request builder")
        request_builders = mapping
    if not request_builders:
        raise BuilderError("no request builders given")
    refs = {}
    for kind, builder in request_builders.items():
        if isinstance(builder, str):
            resolve_ref(builder)
            refs[str(kind)] = builder
        elif callable(builder):
            refs[str(kind)] = ref_of(builder)
        else:
            raise BuilderError(f"builder for kind {kind!r} is neither a callable nor an import path")
    return refs


def load_builders(refs: Mapping[str, str]) -> dict[str, RequestBuilder]:
    return {kind: resolve_ref(ref) for kind, ref in refs.items()}
