"""``aws_error``: matching AWS calls fail with a real AWS error (a LocalStack Chaos API rule on the AWS proxy)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.aws_errors import AWS_SERVICE_NAMES, default_error
from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class AwsErrorFault(BaseFault):
    type_name = "aws_error"
    description = ("AWS calls (service/operation/region) fail with the service's real error, e.g. DynamoDB "
                   "ProvisionedThroughputExceededException; boto3 retries and surfaces it.")
    attributes_schema = {"status_code": ((int,), None), "code": ((str,), None), "message": ((str,), None)}
    target_keys = frozenset({"service", "operation", "region"})

    def validate(self) -> None:
        service = self.spec.target.get("service")
        if service is not None and service not in AWS_SERVICE_NAMES:
            raise self.error(f"target.service must be one of {list(AWS_SERVICE_NAMES)}, got {service!r}")
        status = self.attrs["status_code"]
        if status is not None and not 400 <= status <= 599:
            raise self.error(f"status_code must be 400-599, got {status}")

    def rule(self, ctx: "FaultContext") -> dict[str, object]:
        status, code = default_error(self.spec.target.get("service"))
        rule: dict[str, object] = {k: v for k, v in self.spec.target.items()}
        rule.update({"probability": self.spec.probability, "name": self.spec.name, "seed": ctx.fault_seed(self.spec),
                     "error": {"statusCode": self.attrs["status_code"] or status, "code": self.attrs["code"] or code}})
        if self.attrs["message"]:
            rule["error"]["message"] = self.attrs["message"]  # type: ignore[index]
        return rule

    def apply(self, ctx: "FaultContext") -> Rollback:
        client = ctx.aws()
        client.add_rules([self.rule(ctx)])
        return once(lambda: client.delete_named(self.spec.name))
