"""``redis_latency``: every Redis reply is delayed (a latency toxic on the Redis fault proxy)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import NUMBER, REQUIRED, BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class RedisLatencyFault(BaseFault):
    type_name = "redis_latency"
    description = "Redis replies are delayed by latency_ms (+ uniform jitter_ms); order is kept."
    attributes_schema = {"latency_ms": (NUMBER, REQUIRED), "jitter_ms": (NUMBER, 0)}

    def validate(self) -> None:
        if self.attrs["latency_ms"] < 0 or self.attrs["jitter_ms"] < 0:
            raise self.error("latency_ms and jitter_ms must be >= 0")

    def apply(self, ctx: "FaultContext") -> Rollback:
        client = ctx.redis()
        client.add_toxic(self.spec.name, "latency", probability=self.spec.probability,
                         seed=ctx.fault_seed(self.spec), attributes=dict(self.attrs))
        return once(lambda: client.remove_toxic(self.spec.name))
