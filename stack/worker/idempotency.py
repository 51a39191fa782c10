"""The hot path's exactly-once locks [001 §3a]: ONE conditional write per job, issued in parallel for a batch.

In the metadata table:
- ``LOCK#SYNCCONFIG#{source}##{dataType}`` under the user's partition is the lock: status INPROGRESS with a lease
  (= the visibility timeout), the job id, the idempotency key and the owner. The condition admits a new holder
  when no item exists, when its ``ttl`` is past (moto never expires TTL items and real DynamoDB deletes them
  lazily), when an INPROGRESS lease has expired (its worker died: a kill -9 must not strand the job), or when it
  was released (FREE) or left as RETRY. Locking the sync config, not just the job, also keeps two DIFFERENT jobs
  of one config (a manual sync racing a webhook sync) from both writing the same new source item, since the
  destination may not show the first write yet (Strava processes uploads asynchronously). A job's idempotency
  key belongs to exactly one sync config, so this lock is also the design's "IDEM INPROGRESS: retry later".
- ``IDEM##{key}`` status COMPLETED, 24 h TTL, written with the job's result: later deliveries of the key are
  dropped as successes. It is read with the batch's state (BatchGetItem, consistent) AFTER the lock is held, so
  a duplicate can never slip between its check and a run.
- A run that stops part-way (throttled, transient error) leaves the lock as RETRY with ``writtenIds`` (the
  external ids it already wrote), so the next run of the config skips them before the destination lists them.
  A successful run leaves it FREE with ``lastKey`` = its idempotency key: BatchWriteItem gives no order between
  the COMPLETED item and the release, so a duplicate that takes the lock in between still recognises its key.
The acquiring write returns the lock's previous item (``ReturnValues=ALL_OLD``): its ``writtenIds``, or, for a
duplicate, what to put back.

Why one write, not an ``IDEM##`` INPROGRESS put plus this lock (the previous design): a conditional write costs
~3 ms of worker CPU and more of moto's; the second one bought no guarantee the config lock does not give.
Not a TransactWriteItems: moto 5.2.5 deep-copies the whole table once per transaction action (for rollback).
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from botocore.exceptions import ClientError

from stack.schema import PK, SK, TTL_ATTRIBUTE, idempotency_pk, user_pk
from stack.worker.ddb import from_ddb, to_ddb

MAX_PARALLEL = 10


class LockState(enum.Enum):
    ACQUIRED = "acquired"
    COMPLETED = "completed"    # done before: drop the message as a success
    BUSY = "busy"              # another live worker holds the lease (job or sync config): retry later


@dataclass(frozen=True)
class LockRequest:
    idempotency_key: str
    job_id: str
    user_id: str
    source_connection_id: str
    data_type: str


@dataclass(frozen=True)
class LockResult:
    state: LockState
    lease_until: float = 0.0
    previous: dict[str, Any] | None = None   # the lock item before we took it (None: there was none)

    @property
    def written_ids(self) -> frozenset[str]:
        """External ids an interrupted earlier run of the config wrote (the destination may not list them yet)."""
        return frozenset((self.previous or {}).get("writtenIds") or ())


def config_lock_key(user_id: str, source_connection_id: str, data_type: str) -> dict[str, str]:
    return {PK: user_pk(user_id), SK: f"LOCK#SYNCCONFIG#{source_connection_id}##{data_type}"}


class IdempotencyLocks:
    def __init__(self, ddb: Any, table: str, *, lease_s: float, completed_ttl_s: int, parallel: int = MAX_PARALLEL) -> None:
        """``parallel``: lock writes in flight at once for the whole process (every poller's batch shares one
        pool: starting 10 threads per batch cost ~5 % of the worker's CPU)."""
        self._ddb = ddb
        self._table = table
        self._lease_s = lease_s
        self._completed_ttl_s = completed_ttl_s
        self._pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="idem-lock")

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def acquire_many(self, requests: Sequence[LockRequest], owner: str) -> list[LockResult]:
        """One result per request, in order. Raises ClientError/BotoCoreError when DynamoDB is unavailable."""
        results: list[LockResult] = [LockResult(LockState.BUSY)] * len(requests)
        seen_keys: set[tuple[str, ...]] = set()
        pending: list[int] = []
        for index, request in enumerate(requests):  # the same job or config twice in a batch: run it once
            keys = {(idempotency_pk(request.idempotency_key),),
                    tuple(config_lock_key(request.user_id, request.source_connection_id, request.data_type).values())}
            if not keys & seen_keys:
                seen_keys |= keys
                pending.append(index)
        for index, result in zip(pending, self._pool.map(lambda i: self._acquire(requests[i], owner), pending)):
            results[index] = result
        return results

    def _acquire(self, request: LockRequest, owner: str) -> LockResult:
        now = time.time()
        lease_until = now + self._lease_s
        try:
            response = self._ddb.update_item(**self._lock_update(request, owner, now, lease_until))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return LockResult(LockState.BUSY)
        previous = from_ddb(response["Attributes"]) if response.get("Attributes") else None
        if previous and previous.get("status") == "FREE" and previous.get("lastKey") == request.idempotency_key:
            return LockResult(LockState.COMPLETED, lease_until, previous)  # released by this very job: done
        return LockResult(LockState.ACQUIRED, lease_until, previous)

    def _lock_update(self, request: LockRequest, owner: str, now: float, lease_until: float) -> dict[str, Any]:
        # UPDATED, not replaced: it keeps ``writtenIds`` left by an interrupted run (RETRY).
        condition = ("attribute_not_exists(PK) OR #ttl < :now OR (#s = :inprogress AND leaseUntil < :now) "
                     "OR #s = :retry OR #s = :free")
        return {"TableName": self._table,
                "Key": to_ddb(config_lock_key(request.user_id, request.source_connection_id, request.data_type)),
                "UpdateExpression": ("SET #s = :inprogress, #o = :owner, jobId = :job, idempotencyKey = :key, "
                                     "leaseUntil = :lease, #ttl = :ttl"),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE, "#s": "status", "#o": "owner"},
                "ExpressionAttributeValues": {
                    ":now": {"N": str(int(now))}, ":inprogress": {"S": "INPROGRESS"}, ":retry": {"S": "RETRY"},
                    ":free": {"S": "FREE"}, ":owner": {"S": owner}, ":job": {"S": request.job_id},
                    ":key": {"S": request.idempotency_key}, ":lease": {"N": str(int(lease_until))},
                    ":ttl": {"N": str(int(now + self._completed_ttl_s))}},
                "ReturnValues": "ALL_OLD"}

    def released_item(self, user_id: str, source_connection_id: str, data_type: str, key: str) -> dict[str, Any]:
        """The lock after a successful run: free to take, remembering which key completed (see module doc)."""
        return {**config_lock_key(user_id, source_connection_id, data_type), "status": "FREE", "lastKey": key,
                TTL_ATTRIBUTE: int(time.time() + self._completed_ttl_s)}

    def retry_lock_item(self, user_id: str, source_connection_id: str, data_type: str,
                        written_ids: list[str]) -> dict[str, Any]:
        """The config lock left behind by an interrupted run: free to take, remembering what was written."""
        return {**config_lock_key(user_id, source_connection_id, data_type), "status": "RETRY",
                "writtenIds": sorted(set(written_ids)), TTL_ATTRIBUTE: int(time.time() + self._completed_ttl_s)}

    def record_interrupted(self, user_id: str, source_connection_id: str, data_type: str, owner: str, job_id: str,
                           written_ids: list[str]) -> bool:
        """At once, when a run stops part-way after destination writes: the RETRY config lock with what it wrote.

        Not left to the batch's state write, which comes after the batch's last job: by then the lease may be
        over and another worker may already run the job again, unable to see these writes at the destination
        (Strava lists an upload only once it is processed). Conditional on still holding the lock; if another
        worker took it over, the ids are only added to its ``writtenIds`` (its lock is not freed). Returns True
        when the lock was released as RETRY by this call (the state write must then leave the config lock alone).
        """
        item = self.retry_lock_item(user_id, source_connection_id, data_type, written_ids)
        try:
            self._ddb.put_item(TableName=self._table, Item=to_ddb(item), ConditionExpression="#o = :owner AND jobId = :job",
                               ExpressionAttributeNames={"#o": "owner"},
                               ExpressionAttributeValues={":owner": {"S": owner}, ":job": {"S": job_id}})
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        try:
            self._ddb.update_item(
                TableName=self._table, Key=to_ddb(config_lock_key(user_id, source_connection_id, data_type)),
                UpdateExpression="SET writtenIds = list_append(if_not_exists(writtenIds, :none), :ids)",
                ConditionExpression="attribute_exists(PK)",  # never re-create a released lock without a status
                ExpressionAttributeValues={":none": {"L": []}, ":ids": to_ddb({"i": sorted(set(written_ids))})["i"]})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        return False

    def completed_item(self, key: str, job_id: str) -> dict[str, Any]:
        now = time.time()
        return {PK: idempotency_pk(key), SK: idempotency_pk(key), "status": "COMPLETED", "jobId": job_id,
                "completedAt": int(now), TTL_ATTRIBUTE: int(now + self._completed_ttl_s)}

    @staticmethod
    def completed_key(key: str) -> dict[str, str]:
        return {PK: idempotency_pk(key), SK: idempotency_pk(key)}
