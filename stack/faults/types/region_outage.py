"""``region_outage``: a whole region goes away: its application processes (API, workers, coalescer, scheduler)
are killed and it neither sends nor receives replication (its unreplicated writes wait in it). The rollback
(the region is back) restarts them and lets replication drain, last writer winning."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class RegionOutageFault(BaseFault):
    type_name = "region_outage"
    description = "A whole region is down (target.region: primary, dr or a name): its services and its replication."
    attributes_schema = {"restart": ((bool,), True)}
    target_keys = frozenset({"region"})

    def apply(self, ctx: "FaultContext") -> Rollback:
        from stack.region.faultctl import ReplicatorControl, region_of

        topology, region = region_of(ctx, self.spec.target)
        processes = ctx.require_processes()
        replicator = ReplicatorControl(topology.replicator_url)
        replicator.region_down(region, True)   # first: nothing more leaves the region once it is "gone"
        victims = [name for name in topology.processes[region] if processes.running(name)]
        for name in victims:  # the whole region stops at once (SIGSTOP is instant) ...
            processes.pause(name)
        for name in victims:  # ... then dies (each kill waits for its process to be gone)
            processes.kill(name)

        def undo() -> None:
            if self.attrs["restart"] and victims:
                with ThreadPoolExecutor(len(victims)) as pool:  # the region comes back as a whole
                    list(pool.map(processes.restart, victims))
            replicator.region_down(region, False)

        return once(undo)
