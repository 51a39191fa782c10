"""``aws_outage``: an AWS service is down: its endpoint refuses connections (``mode: refuse``, the default) or
answers every call 503 ServiceUnavailable fast (``mode: error``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.aws_errors import AWS_SERVICE_NAMES
from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class AwsOutageFault(BaseFault):
    type_name = "aws_outage"
    description = "An AWS service is down (e.g. 'DynamoDB down'): connection refused, or 503 on every call."
    attributes_schema = {"mode": ((str,), "refuse")}
    target_keys = frozenset({"service", "region"})

    def validate(self) -> None:
        service = self.spec.target.get("service")
        if service not in AWS_SERVICE_NAMES:
            raise self.error(f"target.service is required, one of {list(AWS_SERVICE_NAMES)}; got {service!r}")
        if self.attrs["mode"] not in ("refuse", "error"):
            raise self.error(f"mode must be 'refuse' or 'error', got {self.attrs['mode']!r}")

    def apply(self, ctx: "FaultContext") -> Rollback:
        client = ctx.aws()
        service = self.spec.target["service"]
        if self.attrs["mode"] == "refuse":
            client.set_outage(service, True)
            return once(lambda: client.set_outage(service, False))
        client.add_rules([{**self.spec.target, "name": self.spec.name, "probability": self.spec.probability,
                           "seed": ctx.fault_seed(self.spec),
                           "error": {"statusCode": 503, "code": "ServiceUnavailable"}}])
        return once(lambda: client.delete_named(self.spec.name))
