"""``redis_outage``: Redis is down: the Redis fault proxy closes its port (connection refused) and drops every
open connection; the rollback opens it again (the server's data is intact, as after a failover)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class RedisOutageFault(BaseFault):
    type_name = "redis_outage"
    description = "Redis (the cache cluster) is down: connections are refused until the rollback."

    def apply(self, ctx: "FaultContext") -> Rollback:
        client = ctx.redis()
        client.add_toxic(self.spec.name, "down", probability=1.0, seed=ctx.fault_seed(self.spec))
        return once(lambda: client.remove_toxic(self.spec.name))
