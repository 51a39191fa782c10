"""``region_dynamodb_down``: DynamoDB is unavailable in one region (001/004 Runbook 3): every call the region's
services make answers 503 ServiceUnavailable (an AWS chaos proxy rule scoped to the region), and the region's
table neither sends nor receives replication. The other region's DynamoDB is untouched."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class RegionDynamoDbDownFault(BaseFault):
    type_name = "region_dynamodb_down"
    description = "DynamoDB down in one region (target.region): 503 to its services, replication stalled."
    target_keys = frozenset({"region"})

    def apply(self, ctx: "FaultContext") -> Rollback:
        from stack.region.faultctl import ReplicatorControl, region_of

        topology, region = region_of(ctx, self.spec.target)
        client = ctx.aws()
        replicator = ReplicatorControl(topology.replicator_url)
        client.add_rules([{"service": "dynamodb", "region": region, "name": self.spec.name,
                           "probability": self.spec.probability, "seed": ctx.fault_seed(self.spec),
                           "error": {"statusCode": 503, "code": "ServiceUnavailable"}}])
        replicator.region_down(region, True)

        def undo() -> None:
            client.delete_named(self.spec.name)
            replicator.region_down(region, False)

        return once(undo)
