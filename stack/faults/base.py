"""The one interface of a fault type: built from a validated :class:`FaultSpec`, ``apply(ctx)`` injects the fault
and returns the :data:`Rollback` that undoes exactly that fault (idempotent: calling it twice is harmless)."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Protocol, runtime_checkable

from stack.faults.envelope import FaultDefinitionError, FaultSpec

if TYPE_CHECKING:
    from stack.faults.context import FaultContext

Rollback = Callable[[], None]


class FaultUnsupported(RuntimeError):
    """The running stack lacks what this fault acts through (no AWS chaos proxy, no hosts file...)."""


@runtime_checkable
class Fault(Protocol):
    spec: FaultSpec

    def apply(self, ctx: "FaultContext") -> Rollback: ...


def once(undo: Callable[[], None]) -> Rollback:
    """Make a rollback idempotent and thread-safe (the runner may call it at the end and again on abort)."""
    lock = threading.Lock()
    done = False

    def rollback() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        undo()

    return rollback


class BaseFault:
    """Shared plumbing of the built-in types: attribute checking against ``attributes_schema``.

    ``attributes_schema`` maps attribute name -> (allowed Python types, default; ``REQUIRED`` = must be given)."""

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    attributes_schema: ClassVar[Mapping[str, tuple[tuple[type, ...], Any]]] = {}
    target_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.attrs = self._check_attributes(spec)
        bad = set(spec.target) - self.target_keys
        if bad:
            raise FaultDefinitionError(f"fault {spec.name!r} ({self.type_name}): target field(s) {sorted(bad)} do "
                                       f"not apply; this type takes {sorted(self.target_keys) or 'no target'}")
        self.validate()

    def validate(self) -> None:
        """Type-specific checks beyond the schema (ranges, combinations); raise FaultDefinitionError."""

    def error(self, message: str) -> FaultDefinitionError:
        return FaultDefinitionError(f"fault {self.spec.name!r} ({self.type_name}): {message}")

    def _check_attributes(self, spec: FaultSpec) -> dict[str, Any]:
        unknown = set(spec.attributes) - set(self.attributes_schema)
        if unknown:
            raise FaultDefinitionError(f"fault {spec.name!r} ({self.type_name}): unknown attribute(s) "
                                       f"{sorted(unknown)}; allowed: {sorted(self.attributes_schema) or 'none'}")
        out: dict[str, Any] = {}
        for key, (types, default) in self.attributes_schema.items():
            if key not in spec.attributes:
                if default is REQUIRED:
                    raise FaultDefinitionError(f"fault {spec.name!r} ({self.type_name}): missing attribute {key!r}")
                out[key] = default
                continue
            value = spec.attributes[key]
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                names = "/".join(t.__name__ for t in types)
                raise FaultDefinitionError(f"fault {spec.name!r} ({self.type_name}): attribute {key!r} must be "
                                           f"{names}, got {value!r}")
            out[key] = value
        return out

    def apply(self, ctx: "FaultContext") -> Rollback:  # pragma: no cover - every type overrides
        raise NotImplementedError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
NUMBER = (int, float)
