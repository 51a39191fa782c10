"""Accepting sync jobs exactly once per Idempotency-Key, without ever losing an accepted one.

1. One DynamoDB transaction writes the ``APIKEY#{user}##{key}`` record and the ``JOB#`` item, both conditional
   on not existing: of two requests with the same key (even concurrent ones) exactly one creates the job.
2. Then the ``SyncJobMessage`` is sent to the HotPathSyncQueue; 202 is returned only after SQS took it.
3. If the send fails, the claim is rolled back (so the client's retry starts afresh) and the answer is 503.
4. A repeated key finds the existing job. If this process knows the first request enqueued it (or is about
   to: concurrent duplicates wait for the first one's outcome), it answers 202 with the same jobId and sends
   nothing. Otherwise (the first request crashed between the write and the send, or ran in another process),
   a job still QUEUED is sent again: a duplicate message is harmless because the worker's ``IDEM##`` lock makes
   processing exactly-once, while a missing message would lose an accepted job.
The jobId is derived from (user, key), formatted as a UUIDv4 [C-008], so every path names the same job.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import orjson

from stack import schema
from stack.api.context import ApiContext
from stack.api.errors import DependencyUnavailable
from stack.api.logs import correlation_id_var, log_fields

log = logging.getLogger("syncwell.api.jobs")
JOB_TTL_S = 30 * 86400
API_KEY_TTL_S = 86400
OUTCOME_WAIT_S = 10.0
OUTCOMES_KEPT = 100_000


class EnqueueOutcomes:
    """jobId -> (request fingerprint, future: True once SQS took the message, False if that failed), for the
    jobs this process accepted recently. Lets a duplicate request skip both DynamoDB and a second send."""

    def __init__(self, size: int = OUTCOMES_KEPT) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[str, asyncio.Future[bool]]] = OrderedDict()

    def get(self, job_id: str) -> tuple[str, asyncio.Future[bool]] | None:
        return self._entries.get(job_id)

    def start(self, job_id: str, fingerprint: str) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._entries[job_id] = (fingerprint, future)
        self._entries.move_to_end(job_id)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return future


async def _enqueued_here(outcomes: EnqueueOutcomes, job_id: str, fingerprint: str) -> bool:
    known = outcomes.get(job_id)
    if known is None or known[0] != fingerprint:
        return False
    try:
        return await asyncio.wait_for(asyncio.shield(known[1]), OUTCOME_WAIT_S)
    except asyncio.TimeoutError:
        return False


def derived_uuid4(*parts: str) -> str:
    """A UUID with version-4 layout whose bits come from a hash of ``parts`` (deterministic, unguessable
    without the parts)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def job_id_for(user_id: str, idempotency_key: str) -> str:
    return f"job_{derived_uuid4('sync-job', user_id, idempotency_key)}"


def worker_idempotency_key(user_id: str, idempotency_key: str) -> str:
    """The worker's IDEM## lock key: the client's key scoped by user, so two users' keys never collide."""
    return f"{user_id}#{idempotency_key}"


@dataclass(frozen=True)
class JobSpec:
    user_id: str
    idempotency_key: str
    source_connection_id: str
    destination_connection_id: str
    data_type: str
    mode: str
    priority: str
    origin: str
    fingerprint: str
    total_chunks: int = 1
    date_range: dict[str, str] | None = None
    payload_ref: str | None = None


@dataclass(frozen=True)
class AcceptedJob:
    job_id: str
    status: str
    created: bool


def build_message(spec: JobSpec, job_id: str, correlation_id: str, now: float) -> dict[str, Any]:
    message: dict[str, Any] = schema.SyncJobMessage(
        jobId=job_id, userId=spec.user_id, sourceConnectionId=spec.source_connection_id,
        destinationConnectionId=spec.destination_connection_id, dataType=spec.data_type, mode=spec.mode,
        priority=spec.priority, idempotencyKey=worker_idempotency_key(spec.user_id, spec.idempotency_key),
        correlationId=correlation_id, requestedAt=now, origin=spec.origin)  # type: ignore[arg-type]
    if spec.date_range:
        message["dateRange"] = spec.date_range
    if spec.payload_ref:
        message["payloadRef"] = spec.payload_ref
    return message


def build_job_item(spec: JobSpec, job_id: str, message: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        schema.PK: schema.user_pk(spec.user_id), schema.SK: schema.job_sk(job_id), "jobId": job_id,
        "userId": spec.user_id, "status": "QUEUED", "idempotencyKey": message["idempotencyKey"],
        "sourceConnectionId": spec.source_connection_id, "destinationConnectionId": spec.destination_connection_id,
        "dataType": spec.data_type, "mode": spec.mode, "priority": spec.priority, "origin": spec.origin,
        "createdAt": now, "updatedAt": now, "correlationId": message["correlationId"],
        "progress": {"totalChunks": spec.total_chunks, "processedChunks": 0, "failedChunks": 0},
        "fingerprint": spec.fingerprint, "messageBody": orjson.dumps(message).decode(), "version": 1,
        schema.TTL_ATTRIBUTE: int(now) + JOB_TTL_S,
    }


async def send_sync_message(ctx: ApiContext, message_body: str, correlation_id: str) -> None:
    queue_url = await ctx.queues.url(ctx.config.hot_queue)
    await ctx.aws.call("sqs", ctx.aws.sqs.send_message, QueueUrl=queue_url, MessageBody=message_body,
                       MessageAttributes={"correlationId": {"DataType": "String", "StringValue": correlation_id}})


async def accept_job(ctx: ApiContext, spec: JobSpec,
                     prepare: Callable[[str], Awaitable[None]] | None = None) -> AcceptedJob:
    """Claim the key, run ``prepare(job_id)`` (e.g. store an upload's payload), then enqueue."""
    job_id = job_id_for(spec.user_id, spec.idempotency_key)
    if await _enqueued_here(ctx.outcomes, job_id, spec.fingerprint):
        return AcceptedJob(job_id, "QUEUED", False)
    future = ctx.outcomes.start(job_id, spec.fingerprint)
    try:
        accepted = await _claim_and_enqueue(ctx, spec, job_id, prepare)
    except BaseException:
        future.set_result(False)
        raise
    future.set_result(True)
    return accepted


async def _claim_and_enqueue(ctx: ApiContext, spec: JobSpec, job_id: str,
                             prepare: Callable[[str], Awaitable[None]] | None) -> AcceptedJob:
    correlation_id = correlation_id_var.get() or uuid.uuid4().hex
    now = time.time()
    message = build_message(spec, job_id, correlation_id, now)
    item = build_job_item(spec, job_id, message, now)
    claim = await ctx.store.claim_idempotency_key(spec.user_id, spec.idempotency_key, spec.fingerprint,
                                                  "sync-job", item, API_KEY_TTL_S)
    if not claim.created:
        return await _replay(ctx, claim.record)
    try:
        if prepare is not None:
            await prepare(job_id)
        await send_sync_message(ctx, item["messageBody"], correlation_id)
    except DependencyUnavailable:
        await _rollback(ctx, spec, item)
        raise
    log_fields(log, logging.INFO, "sync job accepted", jobId=job_id, userId=spec.user_id, origin=spec.origin)
    return AcceptedJob(job_id, "QUEUED", True)


async def _replay(ctx: ApiContext, job: dict[str, Any]) -> AcceptedJob:
    """The key was used before, not (successfully) by this process: re-send the job if it is still QUEUED."""
    if job.get("status") == "QUEUED":
        await send_sync_message(ctx, job["messageBody"], str(job.get("correlationId") or "resend"))
        log_fields(log, logging.WARNING, "re-sent a queued job on an idempotent retry", jobId=job["jobId"])
    return AcceptedJob(job["jobId"], str(job.get("status", "QUEUED")), False)


async def _rollback(ctx: ApiContext, spec: JobSpec, item: dict[str, Any]) -> None:
    try:
        await ctx.store.rollback_claim(spec.user_id, spec.idempotency_key, item[schema.SK])
    except DependencyUnavailable:
        # The claim stays; the client's retry finds the job QUEUED and sends the stored message.
        log_fields(log, logging.ERROR, "rollback after a failed send also failed; a retry will re-send",
                   jobId=item["jobId"])
