"""Every fault type by name: ``register`` (class decorator keyed by ``type_name``), ``fault_class``,
``fault_types`` and ``build_fault`` (validates the type's attributes; raises FaultDefinitionError)."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from stack.faults.base import Fault
from stack.faults.envelope import FaultDefinitionError, FaultSpec

_REGISTRY: dict[str, type] = {}
_loaded = False
T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    name = getattr(cls, "type_name", "")
    if not name:
        raise TypeError(f"{cls.__name__} has no type_name")
    _REGISTRY[name] = cls
    return cls


def _load_builtin() -> None:
    """Import every module of ``stack.faults.types`` once (each registers its class)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from stack.faults import types as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def fault_types() -> dict[str, type]:
    """Type name -> class (each has a one-line ``description``), sorted by name."""
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def fault_class(type_name: str) -> type:
    _load_builtin()
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise FaultDefinitionError(f"unknown fault type {type_name!r}; known types: "
                                   f"{', '.join(sorted(_REGISTRY))}") from None


def build_fault(spec: FaultSpec | Any) -> Fault:
    """A ready-to-apply fault from a spec (or a raw mapping, validated as an envelope first)."""
    if not isinstance(spec, FaultSpec):
        spec = FaultSpec.from_mapping(spec)
    cls = fault_class(spec.type)
    try:
        return cls(spec)  # type: ignore[no-any-return]
    except FaultDefinitionError:
        raise
    except (TypeError, ValueError) as exc:
        raise FaultDefinitionError(f"fault {spec.name!r} ({spec.type}): {exc}") from exc
