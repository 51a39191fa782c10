"""Creates every AWS resource the SyncWell services use, idempotently, against moto, LocalStack or real AWS.

``python -m stack.bootstrap [--json]`` (configured from the environment like the services: see
:mod:`stack.config`); library: :func:`create_resources`.

Resources (001 §3c, the stack contracts):
- ``HotPathSyncQueue`` (standard) redriving to ``HotPathSyncDLQ`` after ``maxReceiveCount`` 5 receives;
- ``CoalescingBufferQueue.fifo`` (FIFO, explicit deduplication ids, DelaySeconds from ``coalescer.delay_s``);
- the table ``SyncWellMetadata`` (PK/SK strings, on demand, GSIs ``ReAuthStatus-index`` and
  ``SyncTierShardId-NextSyncTimestamp-gsi``, TTL on ``ttl``);
- one Secrets Manager secret per provider OAuth app (created only when missing: a real secret is never
  overwritten);
- the export bucket and the ``SyncWellEvents`` event bus.
Running it twice changes nothing; queue attributes that drifted are set back to the declared ones.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, TypedDict

from botocore.exceptions import ClientError

from stack import schema
from stack.config import PROVIDERS, ConfigError, StackConfig

log = logging.getLogger("syncwell.bootstrap")
DLQ_RETENTION_S = 14 * 86400


class BootstrapResult(TypedDict):
    hot_queue_url: str
    dlq_url: str
    coalescing_queue_url: str
    table_name: str
    event_bus: str
    export_bucket: str
    app_secrets: list[str]


def local_app_secret(provider: str) -> schema.ProviderAppSecret:
    """The OAuth app credentials used when nothing else is configured (the fakes are told the same values)."""
    return schema.ProviderAppSecret(
        clientId=f"syncwell-local-{provider}",
        clientSecret=f"syncwell-local-{provider}-secret",
        webhookVerifyToken=f"syncwell-local-{provider}-verify",
        subscriberVerificationCode=f"syncwell-local-{provider}-subscriber",
    )


def create_resources(config: StackConfig, env: Mapping[str, str] | None = None,
                     app_secrets: Mapping[str, schema.ProviderAppSecret] | None = None) -> BootstrapResult:
    """Create (or confirm) every resource; ``env`` supplies credentials/endpoints (default ``os.environ``)."""
    from stack import aws_clients   # boto3: imported on use, so importing local_app_secret stays cheap

    # The five services are independent: create them in parallel (client creation alone costs ~0.1-0.25 s each).
    with ThreadPoolExecutor(5) as pool:
        queues = pool.submit(_ensure_queues, config, env)
        table = pool.submit(lambda: _ensure_table(aws_clients.client("dynamodb", env), config.table_name))
        app = pool.submit(lambda: _ensure_app_secrets(aws_clients.client("secretsmanager", env), app_secrets))
        bucket = pool.submit(lambda: ensure_bucket(aws_clients.client("s3", env), config.export_bucket, config.region))
        bus = pool.submit(lambda: _ensure_event_bus(aws_clients.client("events", env), config.event_bus))
        hot_url, dlq_url, coalescing_url = queues.result()
        table.result(), bucket.result(), bus.result()
        secrets = app.result()
    return BootstrapResult(hot_queue_url=hot_url, dlq_url=dlq_url, coalescing_queue_url=coalescing_url,
                           table_name=config.table_name, event_bus=config.event_bus,
                           export_bucket=config.export_bucket, app_secrets=secrets)


def _ensure_queues(config: StackConfig, env: Mapping[str, str] | None) -> tuple[str, str, str]:
    from stack import aws_clients

    sqs = aws_clients.client("sqs", env)
    dlq_url = _ensure_queue(sqs, config.dlq, {"MessageRetentionPeriod": str(DLQ_RETENTION_S)})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(config.tune("worker", "max_receive_count"))}
    hot_url = _ensure_queue(sqs, config.hot_queue, {
        "RedrivePolicy": json.dumps(redrive),
        "VisibilityTimeout": str(config.tune("worker", "visibility_timeout_s")),
    })
    coalescing_url = _ensure_queue(sqs, config.coalescing_queue, {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DelaySeconds": str(config.tune("coalescer", "delay_s")),
    })
    return hot_url, dlq_url, coalescing_url


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except ClientError as exc:
        if _code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    # The queue exists with other attributes: converge it to the declared ones (FifoQueue cannot change).
    url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    mutable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
    if mutable:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    return url


def table_definition(table_name: str) -> dict[str, Any]:
    """The CreateTable request for SyncWellMetadata (also used by docs and the Compose setup)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": schema.PK, "AttributeType": "S"},
            {"AttributeName": schema.SK, "AttributeType": "S"},
            {"AttributeName": "ReAuthStatus", "AttributeType": "S"},
            {"AttributeName": "SyncTierShardId", "AttributeType": "S"},
            {"AttributeName": "NextSyncTimestamp", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": schema.PK, "KeyType": "HASH"},
                      {"AttributeName": schema.SK, "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": schema.REAUTH_GSI,
             "KeySchema": [{"AttributeName": "ReAuthStatus", "KeyType": "HASH"},
                           {"AttributeName": schema.PK, "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": schema.SCHEDULER_GSI,
             "KeySchema": [{"AttributeName": "SyncTierShardId", "KeyType": "HASH"},
                           {"AttributeName": "NextSyncTimestamp", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
    }


def _ensure_table(dynamodb: Any, table_name: str) -> None:
    try:
        dynamodb.create_table(**table_definition(table_name))
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": schema.TTL_ATTRIBUTE})


def _ensure_app_secrets(secrets: Any, app_secrets: Mapping[str, schema.ProviderAppSecret] | None) -> list[str]:
    names = []
    for provider in PROVIDERS:
        name = schema.provider_app_secret_name(provider)
        value = (app_secrets or {}).get(provider) or local_app_secret(provider)
        try:
            secrets.create_secret(Name=name, SecretString=json.dumps(value))
        except ClientError as exc:
            if _code(exc) != "ResourceExistsException":
                raise
        names.append(name)
    return names


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    request: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except ClientError as exc:
        if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _ensure_event_bus(events: Any, bus: str) -> None:
    try:
        events.create_event_bus(Name=bus)
    except ClientError as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.bootstrap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the created resources as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = create_resources(StackConfig.from_env())
    except ConfigError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
