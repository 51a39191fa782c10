"""How each result kind goes back to the queue at the last in-budget receive (stack/worker/processor.py _settle):
throttled, busy and deferred jobs get a fresh copy (a new receive budget, never the DLQ); real failures keep the
copy, so SQS redrives them after maxReceiveCount receives."""
from __future__ import annotations

import json
import random
from typing import Any, Sequence

import pytest

from stack.worker.health import Counters
from stack.worker.processor import BatchProcessor, JobResult, Kind, ProcessorSettings, parse_message
from stack.worker.requeue import THROTTLE_ATTEMPTS_ATTRIBUTE, Backoff, Requeue, Resend


class _RecordingRequeuer:
    def __init__(self) -> None:
        self.requeued: list[Requeue] = []
        self.resent: list[Resend] = []
        self.deleted: list[tuple[str, str]] = []

    def delete(self, handles: Sequence[tuple[str, str]]) -> None:
        self.deleted.extend(handles)

    def resend(self, entries: Sequence[Resend]) -> list[Resend]:
        self.resent.extend(entries)
        return []

    def change_visibility(self, entries: Sequence[Requeue]) -> list[Requeue]:
        self.requeued.extend(entries)
        return []


def _processor(requeuer: _RecordingRequeuer) -> BatchProcessor:
    """Only what _settle uses (no AWS, no Redis): settings, backoff, counters, the requeuer."""
    processor = object.__new__(BatchProcessor)
    processor._requeuer = requeuer   # type: ignore[assignment]
    processor._settings = ProcessorSettings(table="t", event_bus="b", max_receive_count=5)
    processor._backoff = Backoff(0.05, 1.0, random.Random(0))
    processor._counters = Counters()
    processor._events = None
    return processor


def _job(receive_count: int, throttles: int = 0) -> Any:
    body = {"jobId": "job_1", "userId": "u", "sourceConnectionId": "s", "destinationConnectionId": "d",
            "dataType": "workout", "idempotencyKey": "k"}
    attributes = {THROTTLE_ATTEMPTS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(throttles)}} if throttles else {}
    return parse_message({"MessageId": "m1", "ReceiptHandle": "h1", "Body": json.dumps(body),
                          "Attributes": {"ApproximateReceiveCount": str(receive_count)},
                          "MessageAttributes": attributes})


@pytest.mark.parametrize("kind", [Kind.THROTTLED, Kind.BUSY, Kind.DEFERRED])
def test_waiting_kinds_get_a_fresh_copy_at_the_last_in_budget_receive(kind: Kind) -> None:
    early, last = _RecordingRequeuer(), _RecordingRequeuer()
    _processor(early)._settle([JobResult(_job(4), kind, "waiting")])
    _processor(last)._settle([JobResult(_job(5, throttles=3), kind, "waiting")])
    assert len(early.requeued) == 1 and early.resent == []          # budget left: ChangeMessageVisibility
    assert last.requeued == [] and len(last.resent) == 1             # last receive: a fresh copy ...
    copy = last.resent[0]
    assert (copy.receipt_handle, copy.message_id) == ("h1", "m1")   # ... the original deleted after it is sent
    assert copy.attributes[THROTTLE_ATTEMPTS_ATTRIBUTE]["StringValue"] == "8"   # the backoff keeps growing


@pytest.mark.parametrize("kind", [Kind.TRANSIENT, Kind.PERMANENT])
def test_real_failures_keep_their_copy_so_sqs_redrives_them(kind: Kind) -> None:
    requeuer = _RecordingRequeuer()
    processor = _processor(requeuer)
    processor._settle([JobResult(_job(5), kind, "boom")])
    assert requeuer.resent == [] and len(requeuer.requeued) == 1
    assert processor._counters.snapshot()["dead_lettered"] == 1
