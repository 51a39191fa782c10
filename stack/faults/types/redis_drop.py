"""``redis_drop``: open Redis connections are dropped (TCP reset) and new ones are reset with the fault's
probability (a reset toxic on the Redis fault proxy)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class RedisDropFault(BaseFault):
    type_name = "redis_drop"
    description = "Drops open Redis connections; new ones are reset with the fault's probability."
    attributes_schema = {"drop_open": ((bool,), True)}

    def apply(self, ctx: "FaultContext") -> Rollback:
        client = ctx.redis()
        client.add_toxic(self.spec.name, "reset", probability=self.spec.probability,
                         seed=ctx.fault_seed(self.spec), attributes=dict(self.attrs))
        return once(lambda: client.remove_toxic(self.spec.name))
