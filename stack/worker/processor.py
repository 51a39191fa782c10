"""One SQS batch (up to 10 jobs) through the hot path, with batched I/O at every step.

Per batch: N conditional UpdateItems (one lock per job, stack/worker/idempotency.py: DynamoDB has no batched
conditional write), ONE BatchGetItem for the connections / sync configs / job items / COMPLETED idempotency items
of the whole batch, the provider calls, ONE
BatchWriteItem for every state change (job status, cursor, idempotency COMPLETED, lock releases, needs_reauth),
ONE PutEvents for the SyncSucceeded events, ONE DeleteMessageBatch and at most one
ChangeMessageVisibilityBatch / SendMessageBatch for the rest.

Crash safety (kill -9 anywhere): the order is lock -> destination writes -> state write -> events -> delete.
- killed before the state write: the message comes back after its visibility timeout; the lock's lease
  (= visibility timeout) has expired by then, the job runs again, and conflict resolution finds the items
  already written (their external_id / identical metadata at the destination) so nothing is written twice;
- killed after the state write: ``IDEM##{key}`` says COMPLETED; the redelivered message is dropped as a success.
Leases: no job starts and no destination write begins in the last 20 % of the lease, and no provider read is
answered after 90 % of it, so the batch's state write lands while its locks still hold; a run stopped part-way
after destination writes records them at once (idempotency.record_interrupted), not at the end of the batch.
Events are published after the state write, best effort (a crash between the two loses that event).
"""
from __future__ import annotations

import enum
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from stack.providers import (NotFound, PermanentProviderError, ProviderThrottled, TokenRevoked,
                             TransientProviderError, Unsupported, reads_until)
from stack.schema import connection_sk, idempotency_pk, job_sk, sync_config_sk, user_pk
from stack.worker import jsonlog
from stack.worker.configcache import ConfigCacheInvalidator
from stack.worker.credentials import CredentialsUnavailable, RefreshInProgress, SecretNotFound
from stack.worker.ddb import batch_get, batch_write
from stack.worker.health import Counters
from stack.worker.idempotency import IdempotencyLocks, LockRequest, LockResult, LockState, config_lock_key
from stack.worker.refreshjournal import RefreshJournal
from stack.worker.requeue import (THROTTLE_ATTEMPTS_ATTRIBUTE, Backoff, Requeue, Requeuer, Resend,
                                  carried_attributes)
from stack.worker.sync import (ConnectionNeedsReauth, LeaseExpiring, LeaseTooShortToStart, MissingState, SyncEngine,
                               SyncOutcome)
from stack.worker.tokenbucket import NoToken, TokenBuckets

# Deliberate bugs the chaos experiments must catch (tests only): ignore_token_bucket | delete_before_write.
FAULTY = os.environ.get("SYNCWELL_WORKER_FAULTY", "")
log = logging.getLogger("syncwell.worker")


class Kind(enum.Enum):
    SUCCEEDED = "succeeded"
    DUPLICATE = "duplicate"      # idempotency lock already COMPLETED
    THROTTLED = "throttled"      # no token / provider 429 / Redis down: delay, never fail
    BUSY = "busy"                # another worker holds the lock
    DEFERRED = "deferred"        # its lease was nearly over before it started: not run, retried like BUSY
    TRANSIENT = "transient"      # retry; DLQ only after maxReceiveCount receives
    PERMANENT = "permanent"      # raise-equivalent: SQS redrives it to the DLQ after maxReceiveCount receives


@dataclass
class Job:
    message: dict[str, Any]
    body: dict[str, Any]
    receive_count: int
    throttle_attempts: int
    correlation_id: str
    parse_error: str = ""
    # When this worker's ReceiveMessage returned the batch (the service of this attempt began), and when any worker
    # first received the message (SQS's ApproximateFirstReceiveTimestamp when the receive asked for it, else this
    # receive). Written on the job item as startedAt / receivedAt, in the write the worker makes anyway.
    received_at: float = 0.0
    first_received_at: float = 0.0

    @property
    def attempt(self) -> int:
        return self.receive_count + self.throttle_attempts

    @property
    def job_id(self) -> str:
        return str(self.body.get("jobId", "?"))


@dataclass
class JobResult:
    job: Job
    kind: Kind
    reason: str = ""
    retry_after_s: float = 0.0
    outcome: SyncOutcome | None = None
    lock_held: bool = False
    revoked_connection: dict[str, Any] | None = None
    previously_written: list[str] = field(default_factory=list)  # external ids an interrupted run left
    lease_until: float = 0.0
    lock_before: dict[str, Any] | None = None  # the config lock as it was before we took it
    config_lock_settled: bool = False  # the config lock was already written (record_interrupted): leave it alone


@dataclass(frozen=True)
class ProcessorSettings:
    table: str
    event_bus: str
    max_receive_count: int = 5
    lease_s: float = 60.0
    idempotency_ttl_s: int = 86400
    lock_parallelism: int = 10      # conditional lock writes in flight at once, for all pollers together
    tier_intervals_s: Mapping[str, int] = field(default_factory=lambda: {"PRO": 900, "FREE": 86400})


class BatchProcessor:
    def __init__(self, *, ddb: Any, events: Any, requeuer: Requeuer, engine: SyncEngine, buckets: TokenBuckets,
                 settings: ProcessorSettings, backoff: Backoff, counters: Counters) -> None:
        self._ddb = ddb
        self._events = events
        self._requeuer = requeuer
        self._engine = engine
        self._buckets = buckets
        self._settings = settings
        self._backoff = backoff
        self._counters = counters
        self._locks = IdempotencyLocks(ddb, settings.table, lease_s=settings.lease_s,
                                       completed_ttl_s=settings.idempotency_ttl_s, parallel=settings.lock_parallelism)
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        # The API caches the user's CONN# items in Redis; the worker's needs_reauth write must drop that entry.
        # It shares the token buckets' connection pool (same Redis, short timeouts) rather than opening its own.
        self._config_cache = ConfigCacheInvalidator(buckets.redis)
        # Token refreshes lock and write ahead in this table (the processor is where the worker's table is known).
        engine.use_refresh_journal(RefreshJournal(ddb, settings.table))

    def close(self) -> None:
        self._locks.close()

    # --- the batch ---------------------------------------------------------------------------------------
    def process(self, messages: list[dict[str, Any]]) -> list[JobResult]:
        if FAULTY == "delete_before_write":  # a deliberately broken worker for the chaos harness's tests
            self._requeuer.delete([(m["MessageId"], m["ReceiptHandle"]) for m in messages])
        received_at = time.time()
        jobs = [parse_message(m, received_at) for m in messages]
        self._counters.add("received", len(jobs))
        results: list[JobResult] = []
        lockable: list[Job] = []
        for job in jobs:
            if job.parse_error:
                results.append(JobResult(job, Kind.PERMANENT, job.parse_error))
            elif not self._buckets.available:  # Redis known down: no third-party call possible, no DB work either
                results.append(JobResult(job, Kind.THROTTLED, "redis_unavailable", 1.0))
            else:
                lockable.append(job)
        runnable, lock_results = self._lock(lockable)
        results.extend(lock_results)
        run_results, state = self._run(runnable)
        results.extend(run_results)
        self._commit(results, state)
        self._settle(results)
        return results

    def _lock(self, jobs: list[Job]) -> tuple[list[tuple[Job, LockResult]], list[JobResult]]:
        if not jobs:
            return [], []
        requests = [LockRequest(str(j.body["idempotencyKey"]), j.job_id, str(j.body["userId"]),
                                str(j.body["sourceConnectionId"]), str(j.body["dataType"])) for j in jobs]
        try:
            locks = self._locks.acquire_many(requests, self._lock_owner())
        except (ClientError, BotoCoreError) as exc:
            reason = f"idempotency lock unavailable: {type(exc).__name__}"
            return [], [JobResult(job, Kind.TRANSIENT, reason) for job in jobs]
        runnable: list[tuple[Job, LockResult]] = []
        results: list[JobResult] = []
        for job, lock in zip(jobs, locks):
            if lock.state is LockState.ACQUIRED:
                runnable.append((job, lock))
            elif lock.state is LockState.COMPLETED:
                results.append(_duplicate(job, lock))
            else:
                results.append(JobResult(job, Kind.BUSY, "job or sync config locked by a live worker"))
        return runnable, results

    def _run(self, runnable: list[tuple[Job, LockResult]]) -> tuple[list[JobResult], dict[tuple[str, str], dict]]:
        if not runnable:
            return [], {}
        try:
            state = batch_get(self._ddb, self._settings.table, [key for job, _ in runnable for key in _state_keys(job)])
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            # The lock is left to its lease (a retry waits as BUSY until then): not knowing whether the job
            # already COMPLETED, we could neither release it as done nor put its previous state back safely.
            return [JobResult(job, Kind.TRANSIENT, f"state read failed: {type(exc).__name__}", lock_held=True,
                              lease_until=lock.lease_until, config_lock_settled=True) for job, lock in runnable], {}
        results: list[JobResult] = []
        todo: list[tuple[Job, LockResult]] = []
        for job, lock in runnable:
            completed = state.get(tuple(self._locks.completed_key(str(job.body["idempotencyKey"])).values()))
            if completed and completed.get("status") == "COMPLETED":
                results.append(_duplicate(job, lock))
            else:
                todo.append((job, lock))
        self._engine.prefetch_credentials([state.get(key) for job, _ in todo for key in _state_keys(job)[:2]])
        # Grouped by source provider: consecutive calls reuse the same pooled connections.
        for job, lock in sorted(todo, key=lambda jl: _provider_of(state, jl[0])):
            lease_until = lock.lease_until
            with jsonlog.correlation(job.correlation_id):
                # No new job or destination write after `deadline`; no provider read answered after `reads_until`:
                # what is left of the lease is for the batch's state write, which must land while the locks hold.
                deadline = lease_until - 0.2 * self._settings.lease_s
                with reads_until(lease_until - 0.1 * self._settings.lease_s):
                    result = self._run_one(job, state, deadline, lock.written_ids)
                result.lease_until, result.lock_before = lease_until, lock.previous
                results.append(result)
        return results, state

    def _run_one(self, job: Job, state: Mapping[tuple[str, str], dict], deadline: float,
                 previous: frozenset[str]) -> JobResult:
        body = job.body
        pk = user_pk(str(body["userId"]))
        source = state.get((pk, connection_sk(str(body["sourceConnectionId"]))))
        destination = state.get((pk, connection_sk(str(body["destinationConnectionId"]))))
        config = state.get((pk, sync_config_sk(str(body["sourceConnectionId"]), str(body["dataType"]))))
        outcome = SyncOutcome()
        try:
            self._engine.run(body, source, destination, config, deadline, outcome, previous)
            return JobResult(job, Kind.SUCCEEDED, outcome=outcome, lock_held=True)
        except LeaseTooShortToStart as exc:
            result = JobResult(job, Kind.DEFERRED, str(exc))
        except (NoToken, ProviderThrottled) as exc:
            result = JobResult(job, Kind.THROTTLED, str(exc), exc.retry_after_s)
        except TokenRevoked as exc:
            result = JobResult(job, Kind.PERMANENT, f"token revoked: {exc}",
                               revoked_connection=_revoked_connection(exc, source, destination))
        except RefreshInProgress as exc:  # another worker is refreshing this connection: wait, like a busy lock
            result = JobResult(job, Kind.BUSY, str(exc), exc.retry_after_s)
        except ConnectionNeedsReauth as exc:
            result = JobResult(job, Kind.PERMANENT, f"needs_reauth: {exc}")
        except (NotFound, PermanentProviderError, Unsupported, MissingState, SecretNotFound) as exc:
            result = JobResult(job, Kind.PERMANENT, f"{type(exc).__name__}: {exc}")
        except (TransientProviderError, CredentialsUnavailable, LeaseExpiring, ClientError, BotoCoreError) as exc:
            result = JobResult(job, Kind.TRANSIENT, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a code bug: redrive like any non-transient error
            log.exception("job failed with an unexpected error", extra={"jobId": job.job_id})
            result = JobResult(job, Kind.PERMANENT, f"internal error: {type(exc).__name__}")
        result.lock_held = True
        result.outcome = outcome
        result.previously_written = sorted(previous)
        if outcome.written_ids:
            result.config_lock_settled = self._record_interrupted(result)
        return result

    def _record_interrupted(self, r: JobResult) -> bool:
        """A run stopped after destination writes: record them now, while the lease still holds (see
        IdempotencyLocks.record_interrupted). False if that failed: the batch's state write tries again."""
        b = r.job.body
        written = r.previously_written + (r.outcome.written_ids if r.outcome else [])
        try:
            self._locks.record_interrupted(str(b["userId"]), str(b["sourceConnectionId"]), str(b["dataType"]),
                                           self._lock_owner(), r.job.job_id, written)
            return True
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not record an interrupted run's writes yet", extra={"reason": type(exc).__name__})
            return False

    def _lock_owner(self) -> str:
        """The owner written into the locks: this process and poller thread (a batch runs in one thread)."""
        return f"{self._owner}:{threading.get_ident()}"

    # --- state writes -------------------------------------------------------------------------------------
    def _commit(self, results: list[JobResult], state: Mapping[tuple[str, str], dict]) -> None:
        """One BatchWriteItem for the batch. If it fails, successes turn transient (the retry finds the
        destination items already written) and the locks are left to their leases."""
        puts: list[dict[str, Any]] = []
        deletes: list[dict[str, str]] = []
        now = time.time()
        for r in results:
            key = str(r.job.body.get("idempotencyKey", ""))
            # A lease already over may have been taken over by another worker: releasing it would free THEIR lock.
            # Left alone, it is free to take anyway (its lease is past).
            releasable = r.lock_held and now < r.lease_until
            if r.lock_held and not r.config_lock_settled:
                b = r.job.body
                lock = (str(b["userId"]), str(b["sourceConnectionId"]), str(b["dataType"]))
                written = r.previously_written + (r.outcome.written_ids if r.outcome else [])
                if r.kind is Kind.DUPLICATE:  # never ran: the lock goes back exactly as it was
                    if releasable and r.lock_before:
                        puts.append(r.lock_before)
                    elif releasable:
                        deletes.append(config_lock_key(*lock))
                elif r.kind is not Kind.SUCCEEDED and written:  # interrupted part-way: remember what is written
                    puts.append(self._locks.retry_lock_item(*lock, written))
                elif r.kind is Kind.SUCCEEDED and releasable:
                    puts.append(self._locks.released_item(*lock, key))
                elif releasable:
                    deletes.append(config_lock_key(*lock))
            if r.kind is Kind.SUCCEEDED:
                puts.append(self._locks.completed_item(key, r.job.job_id))
                puts.extend(self._success_items(r, state, now))
            if r.kind in (Kind.PERMANENT, Kind.TRANSIENT) and not r.job.parse_error:
                puts.extend(self._failure_items(r, state, now))
        if not puts and not deletes:
            return
        try:
            batch_write(self._ddb, self._settings.table, puts, deletes)
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            log.error("state write failed for the batch", extra={"reason": type(exc).__name__})
            for r in results:
                if r.kind is Kind.SUCCEEDED:
                    r.kind, r.reason = Kind.TRANSIENT, f"state write failed: {type(exc).__name__}"
            return
        # After the write, never before: a reader that refilled the entry in between would cache the old status.
        self._config_cache.invalidate(str(item["userId"]) for item in puts
                                      if item.get("ReAuthStatus") == "NEEDS_REAUTH" and item.get("userId"))

    def _success_items(self, r: JobResult, state: Mapping[tuple[str, str], dict], now: float) -> list[dict]:
        body, outcome = r.job.body, r.outcome or SyncOutcome()
        pk = user_pk(str(body["userId"]))
        items: list[dict] = []
        job_item = state.get((pk, job_sk(r.job.job_id)))
        if job_item is not None or outcome.items_written:
            items.append(_job_item(job_item, r.job, "SUCCEEDED", now, outcome=outcome))
        if outcome.cursor_advanced:
            config_key = (pk, sync_config_sk(str(body["sourceConnectionId"]), str(body["dataType"])))
            items.append(self._config_item(state.get(config_key), body, outcome.new_cursor, now))
        return items

    def _failure_items(self, r: JobResult, state: Mapping[tuple[str, str], dict], now: float) -> list[dict]:
        body = r.job.body
        pk = user_pk(str(body["userId"]))
        last_receive = r.job.receive_count >= self._settings.max_receive_count
        items: list[dict] = []
        if r.kind is Kind.PERMANENT or last_receive:
            status = "DEAD_LETTERED" if last_receive else "FAILED"
            items.append(_job_item(state.get((pk, job_sk(r.job.job_id))), r.job, status, now, error=r.reason))
        if r.revoked_connection is not None and r.revoked_connection.get("status") != "needs_reauth":
            connection = dict(r.revoked_connection)
            connection.update(status="needs_reauth", ReAuthStatus="NEEDS_REAUTH", reauthReason=r.reason[:200],
                              updatedAt=now, version=int(connection.get("version") or 0) + 1)
            items.append(connection)
        return items

    def _config_item(self, config: dict | None, body: Mapping[str, Any], cursor: int, now: float) -> dict:
        if config is None:
            config = {"PK": user_pk(str(body["userId"])),
                      "SK": sync_config_sk(str(body["sourceConnectionId"]), str(body["dataType"])),
                      "userId": body["userId"], "sourceConnectionId": body["sourceConnectionId"],
                      "destinationConnectionId": body["destinationConnectionId"], "dataType": body["dataType"],
                      "conflictStrategy": "newest_wins", "enabled": True, "version": 0}
        item = dict(config)
        item.update(cursor=int(cursor), lastSyncAt=int(now), version=int(item.get("version") or 0) + 1)
        tier = str(item.get("SyncTierShardId", "")).split("#")[0]
        if tier in self._settings.tier_intervals_s:  # a sync just ran: the next scheduled one is an interval away
            item["NextSyncTimestamp"] = max(int(item.get("NextSyncTimestamp") or 0),
                                            int(now) + self._settings.tier_intervals_s[tier])
        return item

    # --- messages and events ------------------------------------------------------------------------------
    def _settle(self, results: list[JobResult]) -> None:
        self._publish([r for r in results if r.kind is Kind.SUCCEEDED])
        deletes: list[tuple[str, str]] = []
        requeues: list[Requeue] = []
        resends: list[Resend] = []
        for r in results:
            message = r.job.message
            handle, mid = message["ReceiptHandle"], message["MessageId"]
            self._count(r)
            self._log(r)
            if r.kind in (Kind.SUCCEEDED, Kind.DUPLICATE):
                deletes.append((mid, handle))
                continue
            delay = self._backoff.delay(r.job.attempt, r.retry_after_s)
            if r.kind in (Kind.THROTTLED, Kind.BUSY, Kind.DEFERRED) and r.job.receive_count >= self._settings.max_receive_count:
                resends.append(Resend(message["Body"], carried_attributes(message, r.job.attempt), delay, handle, mid))
            else:
                requeues.append(Requeue(handle, mid, delay))
        self._requeuer.delete(deletes)
        unsent = self._requeuer.resend(resends)
        failed = self._requeuer.change_visibility(requeues + [Requeue(e.receipt_handle, e.message_id, e.delay_s)
                                                             for e in unsent])
        if failed:
            self._counters.add("requeue_failures", len(failed))

    def _publish(self, succeeded: list[JobResult]) -> None:
        entries = [{"Source": "syncwell.worker", "DetailType": "SyncSucceeded", "EventBusName": self._settings.event_bus,
                    "Detail": json.dumps(_event_detail(r))} for r in succeeded]
        for start in range(0, len(entries), 10):
            chunk = entries[start:start + 10]
            try:
                response = self._events.put_events(Entries=chunk)
                self._counters.add("events_published", len(chunk) - int(response.get("FailedEntryCount", 0)))
            except (ClientError, BotoCoreError) as exc:
                log.error("PutEvents failed; SyncSucceeded events lost for this batch",
                          extra={"reason": type(exc).__name__})

    def _count(self, r: JobResult) -> None:
        c = self._counters
        if r.kind is Kind.SUCCEEDED:
            c.add("processed")
            c.add("succeeded")
            c.add("items_skipped", (r.outcome.items_in_sync + r.outcome.items_kept) if r.outcome else 0)
        elif r.kind is Kind.DUPLICATE:
            c.add("processed")
            c.add("duplicates_dropped")
        elif r.kind is Kind.THROTTLED:
            c.add("throttled_delays")
        elif r.kind is Kind.BUSY:
            c.add("busy_locks")
        elif r.kind is Kind.DEFERRED:
            c.add("deferred_late_jobs")
        else:
            c.add("retried")
            if r.kind is Kind.PERMANENT:
                c.add("failed")
            if r.job.receive_count >= self._settings.max_receive_count:
                c.add("dead_lettered")

    def _log(self, r: JobResult) -> None:
        extra = {"correlationId": r.job.correlation_id, "jobId": r.job.job_id, "event": r.kind.value,
                 "receiveCount": r.job.receive_count}
        if r.reason:
            extra["reason"] = r.reason
        if r.kind is Kind.SUCCEEDED and r.outcome:
            log.info("sync succeeded: %d written, %d already in sync, %d kept at destination",
                     r.outcome.items_written, r.outcome.items_in_sync, r.outcome.items_kept, extra=extra)
        elif r.kind in (Kind.PERMANENT, Kind.TRANSIENT):
            level = logging.ERROR if r.job.receive_count >= self._settings.max_receive_count else logging.WARNING
            log.log(level, "sync attempt failed", extra=extra)
        else:
            log.info("sync %s", r.kind.value, extra=extra)


# --- helpers ------------------------------------------------------------------------------------------------
def parse_message(message: dict[str, Any], received_at: float | None = None) -> Job:
    attributes = message.get("MessageAttributes") or {}
    system = message.get("Attributes") or {}
    receive_count = int(system.get("ApproximateReceiveCount", "1"))
    received_at = time.time() if received_at is None else received_at
    try:
        first_received_at = min(received_at, int(system["ApproximateFirstReceiveTimestamp"]) / 1000.0)
    except (KeyError, TypeError, ValueError):
        first_received_at = received_at
    throttles = int(attributes.get(THROTTLE_ATTEMPTS_ATTRIBUTE, {}).get("StringValue") or 0)
    correlation_id = str(attributes.get("correlationId", {}).get("StringValue") or "")
    try:
        body = json.loads(message["Body"])
        missing = [k for k in ("jobId", "userId", "sourceConnectionId", "destinationConnectionId", "dataType",
                               "idempotencyKey") if not body.get(k)]
        error = f"malformed job message: missing {missing}" if missing else ""
    except (ValueError, TypeError, AttributeError):
        body, error = {}, "malformed job message: not JSON"
    if not isinstance(body, dict):
        body, error = {}, "malformed job message: not an object"
    correlation_id = correlation_id or str(body.get("correlationId") or "")
    return Job(message, body, receive_count, throttles, correlation_id, error, received_at, first_received_at)


def _state_keys(job: Job) -> list[tuple[str, str]]:
    """Source and destination connections first (credential prefetch), the config, the job, its COMPLETED mark."""
    b = job.body
    pk = user_pk(str(b["userId"]))
    completed = idempotency_pk(str(b["idempotencyKey"]))
    return [(pk, connection_sk(str(b["sourceConnectionId"]))), (pk, connection_sk(str(b["destinationConnectionId"]))),
            (pk, sync_config_sk(str(b["sourceConnectionId"]), str(b["dataType"]))), (pk, job_sk(job.job_id)),
            (completed, completed)]


def _duplicate(job: Job, lock: LockResult) -> JobResult:
    """The key already COMPLETED: dropped as a success; the lock we just took is put back as it was."""
    return JobResult(job, Kind.DUPLICATE, "idempotency key already COMPLETED", lock_held=True,
                     lease_until=lock.lease_until, lock_before=lock.previous)


def _provider_of(state: Mapping[tuple[str, str], dict], job: Job) -> str:
    source = state.get((user_pk(str(job.body["userId"])), connection_sk(str(job.body["sourceConnectionId"]))))
    return str((source or {}).get("provider", ""))


def _revoked_connection(exc: TokenRevoked, source: dict | None, destination: dict | None) -> dict | None:
    """The connection whose grant failed (the engine tags the error with it)."""
    return getattr(exc, "connection", None) or source


def _job_item(existing: dict | None, job: Job, status: str, now: float, *,
              outcome: SyncOutcome | None = None, error: str = "") -> dict:
    body = job.body
    item = dict(existing) if existing else {
        "PK": user_pk(str(body["userId"])), "SK": job_sk(str(body["jobId"])), "jobId": body["jobId"],
        "userId": body["userId"], "idempotencyKey": body["idempotencyKey"],
        "sourceConnectionId": body["sourceConnectionId"], "destinationConnectionId": body["destinationConnectionId"],
        "dataType": body["dataType"], "createdAt": body.get("requestedAt") or now, "origin": body.get("origin", ""),
        "version": 0}
    item.update(status=status, updatedAt=now, version=int(item.get("version") or 0) + 1)
    # receivedAt: the first receive (an earlier write's value is kept); startedAt: this attempt's batch was received,
    # so completedAt - startedAt is the batch's service time as capacity validation needs it (sim/queueing/measured.py).
    item["receivedAt"] = min(float(item.get("receivedAt") or job.first_received_at), job.first_received_at)
    item["startedAt"] = job.received_at
    if outcome is not None:
        item.update(itemsWritten=outcome.items_written + outcome.items_in_sync, itemsListed=outcome.listed,
                    progress={"totalChunks": 1, "processedChunks": 1, "failedChunks": 0}, completedAt=now)
        item.pop("error", None)
    if error:
        item["error"] = error[:500]
    return item


def _event_detail(r: JobResult) -> dict[str, Any]:
    b, o = r.job.body, r.outcome or SyncOutcome()
    return {"jobId": r.job.job_id, "userId": b.get("userId"), "dataType": b.get("dataType"),
            "sourceConnectionId": b.get("sourceConnectionId"),
            "destinationConnectionId": b.get("destinationConnectionId"), "itemsWritten": o.items_written,
            "correlationId": r.job.correlation_id, "requestedAt": b.get("requestedAt"), "completedAt": time.time()}
