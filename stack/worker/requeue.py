"""Returning messages to the queue later: exponential backoff with full jitter and the throttle-budget rule.

Backoff [R-003]: ``delay = random(0, min(cap, base * 2**attempt))``, ``attempt`` = the message's
ApproximateReceiveCount plus the throttle delays carried from earlier copies (see below).

ChangeMessageVisibility(Batch) is retried 3 times with exponential backoff; entries that still fail are left
alone, so the message reappears when its visibility timeout ends and SQS redrive still applies (never lost).

Why throttling never dead-letters a job (the choice, written down):
SQS counts every receive toward maxReceiveCount (5), whatever the reason we returned the message. A throttle
delay (empty token bucket, Redis down, provider 429) is returned with ChangeMessageVisibility like the design
says, EXCEPT when the message has already used its last in-budget receive (ApproximateReceiveCount >=
maxReceiveCount): then the worker sends a fresh copy of the message with DelaySeconds (<= 900) and the carried
attribute ``swThrottleAttempts`` (so the backoff keeps growing), and deletes the original (send first, then
delete: a crash in between leaves a duplicate, which the idempotency lock turns into a no-op). A fresh copy starts
a new receive budget, so throttling alone can delay a job indefinitely but never dead-letters it. BUSY (the sync
config's lock held by another job) and DEFERRED (too little lease left to start) results take the same path
(stack/worker/processor.py ``_settle``): a job that is only contended or slow is never dead-lettered. The cost: in
the rare job that both throttles (or waits) and fails, those receives spend part of one copy's failure budget; real
failures (revoked token, 404, bugs) still reach the DLQ after at most 5 receives of one copy.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Sequence

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("syncwell.worker.requeue")
SQS_MAX_DELAY_S = 900
SQS_MAX_VISIBILITY_S = 43200
THROTTLE_ATTEMPTS_ATTRIBUTE = "swThrottleAttempts"
CMV_RETRIES = 3


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    rng: random.Random
    hint_cap_s: float = 900.0   # longest provider reset hint honoured (Strava's 15-minute window)

    def delay(self, attempt: int, at_least_s: float = 0.0) -> int:
        """Full jitter, but never earlier than the provider's / bucket's own hint (capped)."""
        jitter = self.rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** max(attempt, 0)))
        return int(round(min(SQS_MAX_VISIBILITY_S, max(jitter, min(at_least_s, self.hint_cap_s)))))


@dataclass(frozen=True)
class Requeue:
    receipt_handle: str
    message_id: str
    delay_s: int


@dataclass(frozen=True)
class Resend:
    body: str
    attributes: dict[str, Any]
    delay_s: int
    receipt_handle: str
    message_id: str


class Requeuer:
    def __init__(self, sqs: Any, queue_url: str, *, retry_base_s: float = 0.05) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._retry_base_s = retry_base_s

    def change_visibility(self, entries: Sequence[Requeue]) -> list[Requeue]:
        """ChangeMessageVisibilityBatch with 3 retries; returns the entries that could not be changed."""
        pending = list(entries)
        for attempt in range(CMV_RETRIES + 1):
            if not pending:
                return []
            failed_ids: set[str] = set()
            try:
                response = self._sqs.change_message_visibility_batch(QueueUrl=self._url, Entries=[
                    {"Id": str(i), "ReceiptHandle": e.receipt_handle, "VisibilityTimeout": e.delay_s}
                    for i, e in enumerate(pending)])
                failed_ids = {f["Id"] for f in response.get("Failed", [])}
            except (ClientError, BotoCoreError) as exc:
                log.warning("ChangeMessageVisibilityBatch failed", extra={"reason": type(exc).__name__})
                failed_ids = {str(i) for i in range(len(pending))}
            pending = [e for i, e in enumerate(pending) if str(i) in failed_ids]
            if pending and attempt < CMV_RETRIES:
                time.sleep(self._retry_base_s * 2 ** attempt)
        log.error("ChangeMessageVisibility failed after retries: leaving messages to their visibility timeout "
                  "and SQS redrive", extra={"reason": f"{len(pending)} messages"})
        return pending

    def resend(self, entries: Sequence[Resend]) -> list[Resend]:
        """Send fresh delayed copies, then delete the originals. Returns entries whose copy could not be sent."""
        if not entries:
            return []
        sent: list[Resend] = []
        unsent: list[Resend] = []
        try:
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=[
                {"Id": str(i), "MessageBody": e.body, "DelaySeconds": min(SQS_MAX_DELAY_S, e.delay_s),
                 "MessageAttributes": e.attributes} for i, e in enumerate(entries)])
            ok = {s["Id"] for s in response.get("Successful", [])}
            for i, entry in enumerate(entries):
                (sent if str(i) in ok else unsent).append(entry)
        except (ClientError, BotoCoreError) as exc:
            log.warning("re-send of throttled messages failed", extra={"reason": type(exc).__name__})
            return list(entries)
        self.delete([(e.message_id, e.receipt_handle) for e in sent])
        return unsent

    def delete(self, handles: Sequence[tuple[str, str]]) -> None:
        """DeleteMessageBatch (10 per call); a failed delete only means a redelivery the idempotency lock absorbs."""
        for start in range(0, len(handles), 10):
            chunk = handles[start:start + 10]
            try:
                self._sqs.delete_message_batch(QueueUrl=self._url, Entries=[
                    {"Id": str(i), "ReceiptHandle": handle} for i, (_mid, handle) in enumerate(chunk)])
            except (ClientError, BotoCoreError) as exc:
                log.warning("DeleteMessageBatch failed; messages will be redelivered and dropped as duplicates",
                            extra={"reason": type(exc).__name__})


def carried_attributes(message: dict[str, Any], throttle_attempts: int) -> dict[str, Any]:
    """The original's message attributes (correlation id...) plus the updated throttle attempt counter."""
    attributes = {k: {kk: vv for kk, vv in v.items() if kk in ("DataType", "StringValue", "BinaryValue")}
                  for k, v in (message.get("MessageAttributes") or {}).items()}
    attributes[THROTTLE_ATTEMPTS_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(throttle_attempts)}
    return attributes


def dumps(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body)
