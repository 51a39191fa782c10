"""``region_api_down``: one region's API processes are killed (its front door is gone; its workers and data stay).
Route 53's health checks see it; the rollback restarts the API on the same port."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class RegionApiDownFault(BaseFault):
    type_name = "region_api_down"
    description = "A region's API is down (target.region); its health checks fail; restarted on rollback."
    target_keys = frozenset({"region"})

    def apply(self, ctx: "FaultContext") -> Rollback:
        from stack.region.faultctl import region_of

        topology, region = region_of(ctx, self.spec.target)
        processes = ctx.require_processes()
        victims = [n for n in topology.processes[region] if n.removeprefix("dr-") == "api" and processes.running(n)]
        for name in victims:
            processes.kill(name)

        def undo() -> None:
            for name in victims:
                processes.restart(name)

        return once(undo)
