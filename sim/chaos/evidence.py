"""Collect the end-of-run evidence once: JOB# items, the DLQ (read once, then cleared so the next experiment on
the same stack starts from an empty DLQ; the journal keeps every message), the fakes' destination writes."""
from __future__ import annotations

import json
from typing import Any, Mapping

from fake_providers.control import FakeControl
from sim.chaos.invariants import DeadLetter

JOB_PREFIX = "JOB#"


def _session_client(service: str, aws_env: Mapping[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    endpoint_keys = {"sqs": "AWS_ENDPOINT_URL_SQS", "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB"}
    session = boto3.session.Session(aws_access_key_id=aws_env.get("AWS_ACCESS_KEY_ID", "testing"),
                                     aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY", "testing"),
                                     region_name=aws_env.get("AWS_DEFAULT_REGION", "us-east-1"))
    return session.client(service, endpoint_url=aws_env.get(endpoint_keys[service]),
                          config=Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=30))


def job_items(aws_env: Mapping[str, str], table: str = "SyncWellMetadata") -> dict[str, dict[str, Any]]:
    """jobId -> JOB# item (plain Python values)."""
    from boto3.dynamodb.types import TypeDeserializer

    ddb = _session_client("dynamodb", aws_env)
    deserialize = TypeDeserializer().deserialize
    jobs: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table, "FilterExpression": "begins_with(SK, :p)",
                              "ExpressionAttributeValues": {":p": {"S": JOB_PREFIX}}}
    while True:
        page = ddb.scan(**kwargs)
        for raw in page.get("Items", []):
            item = {k: deserialize(v) for k, v in raw.items()}
            for key, value in item.items():
                if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)):
                    item[key] = float(value)  # Decimal -> float for JSON and comparisons
            jobs[str(item.get("jobId", item["SK"][len(JOB_PREFIX):]))] = item
        if "LastEvaluatedKey" not in page:
            return jobs
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_and_clear_dlq(aws_env: Mapping[str, str], dlq_name: str = "HotPathSyncDLQ") -> list[DeadLetter]:
    """Every DLQ message with its receive count as first read here; the messages are deleted afterwards."""
    sqs = _session_client("sqs", aws_env)
    url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    letters: dict[str, DeadLetter] = {}
    empty_reads = 0
    while empty_reads < 2:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120,
                                   AttributeNames=["All"], WaitTimeSeconds=0)
        messages = page.get("Messages", [])
        if not messages:
            empty_reads += 1
            continue
        entries = []
        for m in messages:
            try:
                body = json.loads(m["Body"])
            except ValueError:
                body = {"raw": m["Body"][:200]}
            letters[m["MessageId"]] = DeadLetter(body.get("jobId"), int(m["Attributes"]["ApproximateReceiveCount"]),
                                                 body)
            entries.append({"Id": str(len(entries)), "ReceiptHandle": m["ReceiptHandle"]})
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return list(letters.values())


def destination_writes(fake_urls: Mapping[str, str]) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = []
    for provider, url in fake_urls.items():
        with FakeControl(url) as control:
            writes.extend({**w, "provider": provider} for w in control.writes())
    return writes
