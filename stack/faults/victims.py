"""Which processes a process fault hits: ``target.process`` names one process, or ``workers`` (the default)
every worker process; ``count`` or ``fraction`` of them are drawn with the fault's seeded random source."""
from __future__ import annotations

import math
import random
from typing import Any, Mapping

from stack.faults.base import FaultUnsupported
from stack.faults.envelope import FaultDefinitionError, FaultSpec
from stack.faults.processes import ProcessControl

COUNT_SCHEMA: dict[str, tuple[tuple[type, ...], Any]] = {"count": ((int,), None), "fraction": ((int, float), None)}


def check_count(spec: FaultSpec, attrs: Mapping[str, Any]) -> None:
    count, fraction = attrs.get("count"), attrs.get("fraction")
    if count is not None and fraction is not None:
        raise FaultDefinitionError(f"fault {spec.name!r} ({spec.type}): give 'count' or 'fraction', not both")
    if count is not None and count < 1:
        raise FaultDefinitionError(f"fault {spec.name!r} ({spec.type}): 'count' must be >= 1, got {count}")
    if fraction is not None and not 0 < fraction <= 1:
        raise FaultDefinitionError(f"fault {spec.name!r} ({spec.type}): 'fraction' must be in (0, 1], "
                                   f"got {fraction}")


def candidates(spec: FaultSpec, processes: ProcessControl) -> list[str]:
    target = spec.target.get("process", "workers")
    if target == "workers":
        names = processes.worker_names()
        if not names:
            raise FaultUnsupported(f"fault {spec.name!r}: the stack runs no worker process")
        return names
    if target not in processes.names():
        raise FaultUnsupported(f"fault {spec.name!r}: no process {target!r}; running: {processes.names()}")
    return [target]


def choose(spec: FaultSpec, attrs: Mapping[str, Any], processes: ProcessControl, rng: random.Random) -> list[str]:
    """The victims, in a seeded order (the same run picks the same processes)."""
    pool = [name for name in candidates(spec, processes) if processes.running(name)]
    if attrs.get("count") is not None:
        n = int(attrs["count"])
    elif attrs.get("fraction") is not None:
        n = max(1, math.floor(len(pool) * float(attrs["fraction"])))
    else:
        n = len(pool)
    return rng.sample(pool, min(n, len(pool)))
