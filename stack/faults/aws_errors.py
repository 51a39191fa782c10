"""Default errors per AWS service (what real AWS answers when it throttles or fails), in the Chaos API's
``{"statusCode", "code"}`` shape, and the set of service names the AWS faults accept."""
from __future__ import annotations

AWS_SERVICE_NAMES = ("dynamodb", "sqs", "secretsmanager", "s3", "events")
DEFAULT_ERRORS: dict[str, tuple[int, str]] = {
    "dynamodb": (400, "ProvisionedThroughputExceededException"),
    "sqs": (400, "ThrottlingException"),
    "secretsmanager": (500, "InternalServiceError"),
    "s3": (503, "SlowDown"),
    "events": (400, "ThrottlingException"),
}
# LocalStack's default when a rule gives no error.
FALLBACK_ERROR = (503, "ServiceUnavailable")


def default_error(service: str | None) -> tuple[int, str]:
    return DEFAULT_ERRORS.get(service or "", FALLBACK_ERROR)
