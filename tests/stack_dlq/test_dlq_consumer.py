"""The DLQ consumer against in-process moto: a message SQS dead-letters after 5 receives gets its job marked
DEAD_LETTERED with a reason (the worker's last error, or the receive count when nobody recorded one), is archived,
stays parked in the DLQ, comes back parked again after its parking expires, and redrives to the hot-path queue."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from stack import schema
from stack.bootstrap import create_resources
from stack.config import StackConfig, load_tuning
from stack.bootstrap import ensure_bucket
from stack.dlq.service import DeadLetterConsumer, no_reason_text

BUCKET = "test-dlq-archive"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3",
                 "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_EVENTBRIDGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        config = StackConfig(table_name="SyncWellMetadata", tuning=load_tuning())
        create_resources(config)
        clients = {name: boto3.client(name, region_name="us-east-1") for name in ("sqs", "dynamodb", "s3")}
        ensure_bucket(clients["s3"], BUCKET, "us-east-1")
        yield {"config": config, **clients}


def consumer(aws: dict[str, Any], park_s: int = 3600) -> DeadLetterConsumer:
    return DeadLetterConsumer(aws["config"], aws["sqs"], aws["dynamodb"], aws["s3"], archive_bucket=BUCKET,
                              poll_wait_s=0, park_s=park_s)


def job(aws: dict[str, Any], status: str | None, error: str | None = None) -> dict[str, str]:
    """A JOB# item (unless ``status`` is None) and its message, walked through 5 receives into the DLQ."""
    body = {"jobId": f"job_{uuid.uuid4()}", "userId": f"user-{uuid.uuid4().hex[:8]}", "sourceConnectionId": "c1",
            "destinationConnectionId": "c2", "dataType": "workouts", "idempotencyKey": uuid.uuid4().hex,
            "mode": "manual", "priority": "high", "requestedAt": time.time()}
    if status is not None:
        item = {"PK": {"S": schema.user_pk(body["userId"])}, "SK": {"S": schema.job_sk(body["jobId"])},
                "jobId": {"S": body["jobId"]}, "userId": {"S": body["userId"]}, "status": {"S": status}}
        if error:
            item["error"] = {"S": error}
        aws["dynamodb"].put_item(TableName="SyncWellMetadata", Item=item)
    sqs = aws["sqs"]
    hot = sqs.get_queue_url(QueueName="HotPathSyncQueue")["QueueUrl"]
    sqs.send_message(QueueUrl=hot, MessageBody=json.dumps(body))
    for _ in range(5):  # five receives that never delete (a worker killed each time)
        assert sqs.receive_message(QueueUrl=hot, VisibilityTimeout=0, MaxNumberOfMessages=1).get("Messages")
    assert not sqs.receive_message(QueueUrl=hot, VisibilityTimeout=0).get("Messages")  # moved to the DLQ
    return body


def job_item(aws: dict[str, Any], body: dict[str, str]) -> dict[str, Any]:
    key = {"PK": {"S": schema.user_pk(body["userId"])}, "SK": {"S": schema.job_sk(body["jobId"])}}
    item = aws["dynamodb"].get_item(TableName="SyncWellMetadata", Key=key, ConsistentRead=True).get("Item") or {}
    return {k: next(iter(v.values())) for k, v in item.items()}


def dlq_counts(aws: dict[str, Any]) -> tuple[int, int]:
    url = aws["sqs"].get_queue_url(QueueName="HotPathSyncDLQ")["QueueUrl"]
    a = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_dead_letters_get_a_reason_an_archive_record_and_stay_parked_in_the_dlq(aws: dict[str, Any]) -> None:
    crashed = job(aws, "QUEUED")
    failed = job(aws, "FAILED", "PermanentProviderError: fitbit 400")
    succeeded = job(aws, "SUCCEEDED")
    c = consumer(aws)
    assert c.poll_once() == 3
    assert job_item(aws, crashed)["status"] == "DEAD_LETTERED"
    assert job_item(aws, crashed)["error"] == no_reason_text(5)
    assert (job_item(aws, failed)["status"], job_item(aws, failed)["error"]) == \
        ("DEAD_LETTERED", "PermanentProviderError: fitbit 400")
    assert job_item(aws, succeeded)["status"] == "SUCCEEDED"  # a duplicate message died: the job stays done
    records = {r.job_id: r for r in c.records()}
    assert set(records) == {crashed["jobId"], failed["jobId"], succeeded["jobId"]}
    assert {r.receives for r in records.values()} == {5}
    assert records[failed["jobId"]].reason == "PermanentProviderError: fitbit 400"
    assert dlq_counts(aws) == (0, 3)  # parked: still in the DLQ (depth alarms count them), not visible
    assert c.poll_once() == 0
    assert c.counters.snapshot()["jobs_marked"] == 2


def test_a_message_whose_parking_expires_is_parked_again_without_a_second_record(aws: dict[str, Any]) -> None:
    body = job(aws, "QUEUED")
    c = consumer(aws, park_s=1)
    assert c.poll_once() == 1
    first = job_item(aws, body)
    deadline = time.monotonic() + 20
    while c.counters.snapshot()["reparked"] == 0 and time.monotonic() < deadline:
        c.poll_once(wait_s=1)
    assert c.counters.snapshot()["reparked"] >= 1
    assert c.counters.snapshot()["dead_letters"] == 1
    assert len(list(c.records())) == 1
    assert job_item(aws, body)["version"] == first["version"]  # the job was not touched again


def test_job_missing_from_the_table_is_written_whole_and_redrive_puts_jobs_back(aws: dict[str, Any]) -> None:
    missing = job(aws, None)
    crashed = job(aws, "QUEUED")
    c = consumer(aws)
    c.poll_once()
    item = job_item(aws, missing)
    assert item["status"] == "DEAD_LETTERED" and item["dataType"] == "workouts" and item["jobId"] == missing["jobId"]
    assert c.redrive({crashed["jobId"]}) == 1
    assert job_item(aws, crashed)["status"] == "QUEUED" and "error" not in job_item(aws, crashed)
    hot = aws["sqs"].get_queue_url(QueueName="HotPathSyncQueue")["QueueUrl"]
    back = aws["sqs"].receive_message(QueueUrl=hot, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["jobId"] for m in back] == [crashed["jobId"]]
    assert dlq_counts(aws) == (0, 1)  # only the other one is still parked
    assert c.redrive() == 1 and c.redrive() == 0  # each dead letter is redriven once


def test_a_dead_letter_that_cannot_be_recorded_comes_back_in_seconds_not_12_hours(aws: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    body = job(aws, "QUEUED")
    c = consumer(aws)
    real_get_item = c.ddb.get_item

    def down(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "GetItem")

    c.ddb.get_item = down  # DynamoDB down while the consumer reads the job
    assert c.poll_once() == 1
    assert c.counters.snapshot()["errors"] == 1 and not list(c.records())
    c.ddb.get_item = real_get_item
    deadline = time.monotonic() + 30
    while not list(c.records()) and time.monotonic() < deadline:
        c.poll_once(wait_s=1)
    assert job_item(aws, body)["status"] == "DEAD_LETTERED"
