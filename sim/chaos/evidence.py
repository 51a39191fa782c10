"""Collect the end-of-run evidence once: JOB# items, the dead letters, the fakes' destination writes.

The dead letters come from the stack's DLQ consumer (stack/dlq): it marks each dead-lettered job with a reason and
archives the message (with the receive count it had on the hot-path queue) to the DLQ archive bucket, parking the
message in the DLQ. Several experiments can share one stack: each reads only the dead letters archived since it
started, the JOB# items of its own jobs (accepted, or created since it started) and judges duplicate writes
among the writes made since it started (against every write before, too).

A stack without the consumer (``dlq`` not among its processes) is read the old way: the DLQ read once, then
cleared (its receive counts then include this read)."""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from sim.chaos.clients import aws_client, fake_control
from sim.chaos.invariants import DeadLetter

JOB_PREFIX = "JOB#"


def _session_client(service: str, aws_env: Mapping[str, str]) -> Any:
    return aws_client(service, aws_env)


def job_items(aws_env: Mapping[str, str], table: str = "SyncWellMetadata", *,
              only: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, dict[str, Any]]:
    """jobId -> JOB# item (plain Python values), those ``only`` keeps when given."""
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
            if only is None or only(item):
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
            # minus this read: the receives the message had on the hot-path queue
            letters[m["MessageId"]] = DeadLetter(body.get("jobId"), int(m["Attributes"]["ApproximateReceiveCount"]) - 1,
                                                 body)
            entries.append({"Id": str(len(entries)), "ReceiptHandle": m["ReceiptHandle"]})
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return list(letters.values())


def archived_dead_letters(aws_env: Mapping[str, str], since_epoch: float,
                          bucket: str | None = None) -> list[DeadLetter]:
    """The DLQ consumer's records (stack/dlq) archived at or after ``since_epoch``."""
    from stack.dlq.service import DEFAULT_ARCHIVE_BUCKET, archived_records

    s3 = _session_client("s3", aws_env)
    return [DeadLetter(r.job_id or None, int(r.receives), r.body, r.reason)
            for r in archived_records(s3, bucket or DEFAULT_ARCHIVE_BUCKET, since_epoch)]


def dlq_visible(aws_env: Mapping[str, str], dlq_name: str = "HotPathSyncDLQ") -> int:
    """DLQ messages the consumer has not picked up yet (parked ones are in flight)."""
    sqs = _session_client("sqs", aws_env)
    url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])


def write_counts(fake_urls: Mapping[str, str]) -> dict[str, int]:
    """How many destination writes each fake holds now (the mark an experiment's own writes start after)."""
    counts: dict[str, int] = {}
    for provider, url in fake_urls.items():
        counts[provider] = len(fake_control(url).writes())
    return counts


def destination_writes(fake_urls: Mapping[str, str], since: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Every write the fakes hold; those after ``since[provider]`` carry ``"mine": True`` (this experiment's)."""
    writes: list[dict[str, Any]] = []
    for provider, url in fake_urls.items():
        start = (since or {}).get(provider, 0)
        writes.extend({**w, "provider": provider, "mine": index >= start}
                      for index, w in enumerate(fake_control(url).writes()))
    return writes
