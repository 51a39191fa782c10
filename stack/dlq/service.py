"""The dead-letter consumer: HotPathSyncDLQ -> a reason on every dead-lettered job, the message kept for redrive.

SQS moves a hot-path message to the DLQ after ``maxReceiveCount`` (5) receives. When a worker failed the job for
good it already recorded why (JOB# ``error``); when every receive ended in a crash or a timeout (kill -9, a
hung batch) nobody did, and the job would sit QUEUED forever. This consumer closes that gap, following the seed's
DLQ handling (001 §3b "moved to the DLQ for out-of-band analysis", the ``syncwell-prod-dlq-archive`` bucket;
004 "Check the HotPathSyncQueue DLQ ... preventing data loss"):

1. **record** - each DLQ message's job is marked ``DEAD_LETTERED`` in DynamoDB with a reason: the last error
   the worker recorded, else ``exceeded maxReceiveCount=5 receives (worker crashed or timed out each time)``.
   A job that SUCCEEDED meanwhile (a duplicate message) keeps its status.
2. **archive** - the message (body, attributes, receive count, reason, receipt handle) is written to the DLQ
   archive bucket as ``dead-letters/<jobId>/<messageId>.json`` for inspection.
3. **park** - the message is NOT deleted: it stays in the DLQ, received with a long visibility timeout (12 h, the
   SQS maximum), so the DLQ depth alarm (visible + in flight) still counts it and ``redrive`` can move it back.
   When a parking expires the consumer sees the message again, recognises it by its archived record and parks it
   again (without touching the job).

``redrive`` (``python -m stack.dlq redrive``) sends archived messages back to the hot-path queue, deletes them
from the DLQ with their stored receipt handle and marks the jobs ``QUEUED`` again.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from stack import schema
from stack.config import StackConfig
from stack.worker.health import Counters

log = logging.getLogger("syncwell.dlq")
ARCHIVE_PREFIX = "dead-letters/"
DEFAULT_ARCHIVE_BUCKET = "syncwell-dlq-archive"
PARK_S = 43_200  # SQS's longest visibility timeout: a parked message stays out of the way for 12 h
RETRY_S = 5  # a message that could not be recorded (DynamoDB or S3 down) is retried this much later
COUNTERS = ("dead_letters", "jobs_marked", "already_succeeded", "reparked", "malformed", "redriven", "errors")


def no_reason_text(max_receive_count: int) -> str:
    return (f"exceeded maxReceiveCount={max_receive_count} receives (worker crashed or timed out each time)")


@dataclass(frozen=True)
class DeadLetterRecord:
    """What the archive keeps per DLQ message (one JSON object in the archive bucket)."""

    message_id: str
    job_id: str
    user_id: str
    reason: str
    receives: int            # receives on the hot-path queue (the DLQ's count minus this consumer's own read)
    job_status: str          # the JOB# status after recording (SUCCEEDED when a duplicate message died)
    archived_at: float
    receipt_handle: str
    body: Mapping[str, Any]
    redriven_at: float | None = None

    @property
    def key(self) -> str:
        return archive_key(self.job_id, self.message_id)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "DeadLetterRecord":
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


def archive_key(job_id: str, message_id: str) -> str:
    return f"{ARCHIVE_PREFIX}{job_id or 'unknown'}/{message_id}.json"


class DeadLetterConsumer:
    def __init__(self, config: StackConfig, sqs: Any, ddb: Any, s3: Any, *, archive_bucket: str,
                 poll_wait_s: int = 2, park_s: int = PARK_S) -> None:
        self.config = config
        self.sqs = sqs
        self.ddb = ddb
        self.s3 = s3
        self.bucket = archive_bucket
        self.poll_wait_s = poll_wait_s
        self.park_s = park_s
        self.max_receive_count = int(config.tuning.get("worker", {}).get("max_receive_count", 5))
        self.dlq_url = sqs.get_queue_url(QueueName=config.dlq)["QueueUrl"]
        self.hot_url = sqs.get_queue_url(QueueName=config.hot_queue)["QueueUrl"]
        self.counters = Counters()
        for name in COUNTERS:  # every counter shows on /health from the start, zeros included
            self.counters.add(name, 0)
        self._stop = threading.Event()

    # --- the loop --------------------------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (ClientError, BotoCoreError) as exc:  # AWS trouble: try again shortly, the messages wait
                self.counters.add("errors")
                log.warning("dlq poll failed", extra={"reason": type(exc).__name__})
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()

    def poll_once(self, wait_s: int | None = None) -> int:
        """Receive one batch of DLQ messages, record and park each. Returns how many were handled."""
        response = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10,
                                            VisibilityTimeout=self.park_s, AttributeNames=["All"],
                                            WaitTimeSeconds=self.poll_wait_s if wait_s is None else wait_s)
        messages = response.get("Messages") or []
        for message in messages:
            try:
                self.handle(message)
            except (ClientError, BotoCoreError) as exc:  # DynamoDB or S3 down: try this one again shortly
                self.counters.add("errors")
                log.warning("dead letter not recorded yet", extra={"reason": type(exc).__name__})
                self._retry_soon(message)
        return len(messages)

    def _retry_soon(self, message: Mapping[str, Any]) -> None:
        """Received for a 12 h parking but not recorded: make it visible again in a few seconds, not 12 h."""
        try:
            self.sqs.change_message_visibility(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=RETRY_S)
        except (ClientError, BotoCoreError):
            pass  # SQS is down too: the message reappears when its parking ends, and is recorded then

    def handle(self, message: Mapping[str, Any]) -> DeadLetterRecord | None:
        """Record one received DLQ message (first sight) or just re-park it (already archived)."""
        try:
            body = json.loads(message["Body"])
            job_id, user_id = str(body["jobId"]), str(body["userId"])
        except (ValueError, KeyError, TypeError):
            self.counters.add("malformed")
            body, job_id, user_id = {"raw": str(message.get("Body", ""))[:2000]}, "", ""
        key = archive_key(job_id, message["MessageId"])
        existing = self._archived(key)
        if existing is not None:  # its parking expired: park it again under the new receipt handle
            self._archive(DeadLetterRecord(**{**asdict(existing), "receipt_handle": message["ReceiptHandle"]}))
            self.counters.add("reparked")
            return existing
        self.counters.add("dead_letters")
        receives = max(0, int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)) - 1)
        reason, status = (self._mark_job(user_id, job_id, body, message["MessageId"], receives) if job_id
                          else ("malformed DLQ message (no jobId)", "UNKNOWN"))
        record = DeadLetterRecord(message["MessageId"], job_id, user_id, reason, receives, status, time.time(),
                                  message["ReceiptHandle"], body)
        self._archive(record)
        log.info("dead letter recorded", extra={"jobId": job_id, "reason": reason[:200], "receives": receives})
        return record

    # --- DynamoDB ---------------------------------------------------------------------------------------------
    def _mark_job(self, user_id: str, job_id: str, body: Mapping[str, Any], message_id: str,
                  receives: int) -> tuple[str, str]:
        """JOB# -> DEAD_LETTERED with a reason (the worker's last error, else the receive count); returns
        (reason, status). A job that already SUCCEEDED keeps its status."""
        key = {"PK": {"S": schema.user_pk(user_id)}, "SK": {"S": schema.job_sk(job_id)}}
        item = self.ddb.get_item(TableName=self.config.table_name, Key=key, ConsistentRead=True).get("Item") or {}
        status = item.get("status", {}).get("S", "")
        reason = item.get("error", {}).get("S") or no_reason_text(self.max_receive_count)
        if status == "SUCCEEDED":
            self.counters.add("already_succeeded")
            return reason, status
        now = time.time()
        values = {":dl": {"S": "DEAD_LETTERED"}, ":reason": {"S": reason[:500]}, ":now": {"N": repr(now)},
                  ":mid": {"S": message_id}, ":rc": {"N": str(receives)}, ":one": {"N": "1"}, ":zero": {"N": "0"},
                  ":ok": {"S": "SUCCEEDED"}, ":job": {"S": job_id}, ":user": {"S": user_id},
                  ":created": {"N": repr(float(body.get("requestedAt") or now))}}
        names = {"#s": "status", "#e": "error", "#v": "version"}
        extra = ""
        for field_name in ("idempotencyKey", "sourceConnectionId", "destinationConnectionId", "dataType", "origin"):
            if isinstance(body.get(field_name), str):  # a job the API never wrote (e.g. coalesced): make it whole
                values[f":{field_name}"] = {"S": body[field_name]}
                extra += f", {field_name} = if_not_exists({field_name}, :{field_name})"
        try:
            self.ddb.update_item(
                TableName=self.config.table_name, Key=key,
                UpdateExpression="SET #s = :dl, #e = :reason, deadLetteredAt = :now, dlqMessageId = :mid, "
                                 "dlqReceives = :rc, updatedAt = :now, jobId = if_not_exists(jobId, :job), "
                                 "userId = if_not_exists(userId, :user), createdAt = if_not_exists(createdAt, :created), "
                                 "#v = if_not_exists(#v, :zero) + :one" + extra,
                ConditionExpression="attribute_not_exists(#s) OR #s <> :ok",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            self.counters.add("already_succeeded")  # it succeeded between the read and the write
            return reason, "SUCCEEDED"
        self.counters.add("jobs_marked")
        return reason, "DEAD_LETTERED"

    # --- the archive -------------------------------------------------------------------------------------------
    def _archive(self, record: DeadLetterRecord) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=record.key, Body=json.dumps(asdict(record)).encode(),
                           ContentType="application/json")

    def _archived(self, key: str) -> DeadLetterRecord | None:
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return DeadLetterRecord.from_wire(json.loads(data))

    def records(self, since_epoch: float = 0.0) -> Iterator[DeadLetterRecord]:
        """Every archived dead letter (archived at or after ``since_epoch``)."""
        yield from archived_records(self.s3, self.bucket, since_epoch)

    # --- redrive ------------------------------------------------------------------------------------------------
    def redrive(self, job_ids: set[str] | None = None) -> int:
        """Send archived, not yet redriven messages (all, or those of ``job_ids``) back to the hot-path queue;
        delete them from the DLQ and mark their jobs QUEUED. Returns how many were redriven."""
        count = 0
        for record in list(self.records()):
            if record.redriven_at is not None or not record.job_id or (job_ids and record.job_id not in job_ids):
                continue
            self.sqs.send_message(QueueUrl=self.hot_url, MessageBody=json.dumps(dict(record.body)))
            try:
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=record.receipt_handle)
            except ClientError as exc:  # the parking expired meanwhile: the re-parked copy is ignored below
                log.warning("dlq delete after redrive failed", extra={"reason": type(exc).__name__})
            self._requeue_job(record)
            self._archive(DeadLetterRecord(**{**asdict(record), "redriven_at": time.time()}))
            count += 1
        self.counters.add("redriven", count)
        return count

    def _requeue_job(self, record: DeadLetterRecord) -> None:
        key = {"PK": {"S": schema.user_pk(record.user_id)}, "SK": {"S": schema.job_sk(record.job_id)}}
        try:
            self.ddb.update_item(TableName=self.config.table_name, Key=key,
                                 UpdateExpression="SET #s = :q, redrivenAt = :now REMOVE #e",
                                 ConditionExpression="#s = :dl",
                                 ExpressionAttributeNames={"#s": "status", "#e": "error"},
                                 ExpressionAttributeValues={":q": {"S": "QUEUED"}, ":dl": {"S": "DEAD_LETTERED"},
                                                            ":now": {"N": repr(time.time())}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def archived_records(s3: Any, bucket: str, since_epoch: float = 0.0) -> Iterator[DeadLetterRecord]:
    """Every dead letter in the archive bucket archived at or after ``since_epoch`` (list + get per object)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": ARCHIVE_PREFIX}
    while True:
        page = s3.list_objects_v2(**kwargs)
        for entry in page.get("Contents", []):
            if entry["LastModified"].timestamp() < since_epoch - 2:  # the object's time is a cheap first filter
                continue
            record = DeadLetterRecord.from_wire(json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()))
            if record.archived_at >= since_epoch:
                yield record
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
