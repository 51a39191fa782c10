"""``aws_latency``: AWS calls take longer (a rule on the AWS proxy; without a target, the Chaos API's global
``effects`` latency)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.aws_errors import AWS_SERVICE_NAMES
from stack.faults.base import NUMBER, REQUIRED, BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class AwsLatencyFault(BaseFault):
    type_name = "aws_latency"
    description = "AWS calls (all, or a service/operation/region) get latency_ms (+ uniform jitter_ms) added."
    attributes_schema = {"latency_ms": (NUMBER, REQUIRED), "jitter_ms": (NUMBER, 0)}
    target_keys = frozenset({"service", "operation", "region"})

    def validate(self) -> None:
        if self.attrs["latency_ms"] < 0 or self.attrs["jitter_ms"] < 0:
            raise self.error("latency_ms and jitter_ms must be >= 0")
        service = self.spec.target.get("service")
        if service is not None and service not in AWS_SERVICE_NAMES:
            raise self.error(f"target.service must be one of {list(AWS_SERVICE_NAMES)}, got {service!r}")

    def apply(self, ctx: "FaultContext") -> Rollback:
        client = ctx.aws()
        if not self.spec.target and self.spec.probability >= 1 and not self.attrs["jitter_ms"]:
            previous = client.get_effects()
            client.set_effects({**previous, "latency": self.attrs["latency_ms"]})
            return once(lambda: client.set_effects(previous))
        rule = {**self.spec.target, "name": self.spec.name, "probability": self.spec.probability,
                "seed": ctx.fault_seed(self.spec), "latency_ms": self.attrs["latency_ms"],
                "jitter_ms": self.attrs["jitter_ms"]}
        client.add_rules([rule])
        return once(lambda: client.delete_named(self.spec.name))
