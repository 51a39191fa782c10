"""``az_failure``: an availability zone goes away: half of the worker processes (at least one) are killed
(``mode: kill``, restarted on rollback) or frozen (``mode: pause``, resumed on rollback)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register
from stack.faults.victims import choose

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class AzFailureFault(BaseFault):
    type_name = "az_failure"
    description = "Half of the worker processes (one AZ) are killed or paused until the rollback."
    attributes_schema = {"mode": ((str,), "kill"), "fraction": ((int, float), 0.5)}

    def validate(self) -> None:
        if self.attrs["mode"] not in ("kill", "pause"):
            raise self.error(f"mode must be 'kill' or 'pause', got {self.attrs['mode']!r}")
        if not 0 < self.attrs["fraction"] <= 1:
            raise self.error(f"fraction must be in (0, 1], got {self.attrs['fraction']}")

    def apply(self, ctx: "FaultContext") -> Rollback:
        processes = ctx.require_processes()
        victims = choose(self.spec, {"fraction": self.attrs["fraction"]}, processes, ctx.rng(self.spec))
        pause = self.attrs["mode"] == "pause"
        for name in victims:
            processes.pause(name) if pause else processes.kill(name)

        def undo() -> None:
            for name in victims:
                processes.resume(name) if pause else processes.restart(name)

        return once(undo)
