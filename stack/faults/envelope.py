"""The one envelope every fault takes: who it targets and how often (``name``, ``type``, ``target``,
``probability``), when (``start_s``, ``duration_s``) and its seed, separate from the type's own ``attributes``."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
ENVELOPE_KEYS = frozenset({"name", "type", "target", "probability", "attributes", "start_s", "duration_s", "seed"})
TARGET_KEYS = frozenset({"service", "operation", "region", "process", "provider", "route", "method", "user", "host"})


class FaultDefinitionError(ValueError):
    """A malformed fault definition; the message says exactly which field is wrong and what is allowed."""


@dataclass(frozen=True)
class FaultSpec:
    name: str
    type: str
    target: dict[str, str] = field(default_factory=dict)
    probability: float = 1.0
    attributes: dict[str, Any] = field(default_factory=dict)
    start_s: float = 0.0
    duration_s: float | None = None
    seed: int | None = None

    @classmethod
    def from_mapping(cls, data: Any) -> "FaultSpec":
        """Validate a parsed YAML/JSON fault definition (the envelope only; the type checks its attributes)."""
        if not isinstance(data, Mapping):
            raise FaultDefinitionError(f"a fault definition must be a mapping {{name, type, target, probability, "
                                       f"attributes, start_s, duration_s, seed}}, got {type(data).__name__}")
        unknown = set(data) - ENVELOPE_KEYS
        if unknown:
            raise FaultDefinitionError(f"unknown field(s) {sorted(unknown)} in fault definition; "
                                       f"allowed: {sorted(ENVELOPE_KEYS)}")
        name = data.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise FaultDefinitionError(f"'name' must be 1-100 characters of letters, digits, '_', '.', ':', '-'; "
                                       f"got {name!r}")
        type_name = data.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise FaultDefinitionError(f"fault {name!r}: 'type' is required (a fault type name)")
        return cls(name=name, type=type_name, target=_target(name, data.get("target")),
                   probability=_probability(name, data.get("probability", 1.0)),
                   attributes=_attributes(name, data.get("attributes")),
                   start_s=_seconds(name, "start_s", data.get("start_s", 0.0)),
                   duration_s=None if data.get("duration_s") is None
                   else _seconds(name, "duration_s", data.get("duration_s")),
                   seed=_seed(name, data.get("seed")))

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "target": dict(self.target),
                               "probability": self.probability, "attributes": dict(self.attributes),
                               "start_s": self.start_s}
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def _target(name: str, raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise FaultDefinitionError(f"fault {name!r}: 'target' must be a mapping of {sorted(TARGET_KEYS)}")
    unknown = set(raw) - TARGET_KEYS
    if unknown:
        raise FaultDefinitionError(f"fault {name!r}: unknown target field(s) {sorted(unknown)}; "
                                   f"allowed: {sorted(TARGET_KEYS)}")
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise FaultDefinitionError(f"fault {name!r}: target.{key} must be a non-empty string, got {value!r}")
    return dict(raw)


def _probability(name: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or math.isnan(raw) or not 0 <= raw <= 1:
        raise FaultDefinitionError(f"fault {name!r}: 'probability' must be a number from 0 to 1, got {raw!r}")
    return float(raw)


def _attributes(name: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise FaultDefinitionError(f"fault {name!r}: 'attributes' must be a mapping, got {type(raw).__name__}")
    return dict(raw)


def _seconds(name: str, key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or math.isnan(raw) or raw < 0:
        raise FaultDefinitionError(f"fault {name!r}: {key!r} must be a number of seconds >= 0, got {raw!r}")
    return float(raw)


def _seed(name: str, raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise FaultDefinitionError(f"fault {name!r}: 'seed' must be an integer, got {raw!r}")
    return raw
