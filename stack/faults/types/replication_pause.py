"""``replication_pause``: global-table replication stops (AWS FIS ``aws:dynamodb:global-table-pause-replication``):
both regions keep serving and writing; changes queue up and flow when the rollback resumes replication."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class ReplicationPauseFault(BaseFault):
    type_name = "replication_pause"
    description = "Global-table replication paused (FIS global-table-pause-replication); resumed on rollback."

    def apply(self, ctx: "FaultContext") -> Rollback:
        from stack.region.faultctl import ReplicatorControl, topology_of

        replicator = ReplicatorControl(topology_of(ctx).replicator_url)
        replicator.pause()
        return once(replicator.resume)
