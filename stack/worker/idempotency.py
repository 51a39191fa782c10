"""The hot path's exactly-once locks [001 §3a]: two conditional writes per job, issued in parallel for a batch.

In the metadata table:
- ``IDEM##{key}`` status INPROGRESS with a lease: the job lock of the design. The condition admits a new lock when
  no item exists, when the item's ``ttl`` is past (moto never expires TTL items and real DynamoDB deletes them
  lazily), or when an INPROGRESS lease has expired (its worker died: a kill -9 must not strand the job).
  COMPLETED items carry a 24 h TTL and make later deliveries of the same key a no-op success.
- ``LOCK#SYNCCONFIG#{source}##{dataType}`` under the user's partition, same lease rule: two DIFFERENT jobs of the
  same sync config (a manual sync racing a webhook sync) must not both write the same new source item, since
  the destination may not show the first write yet (Strava processes uploads asynchronously). A run that stops
  part-way (throttled, transient error) leaves this item as status RETRY with ``writtenIds`` (the external ids
  it already wrote), so the next run of the config skips them even before the destination lists them.
Both are released (deleted, or RETRY) or completed in the batch's single BatchWriteItem.

Not a TransactWriteItems: moto 5.2.5 deep-copies the whole table once per transaction action (for rollback),
which at a few hundred users costs ~0.5 s of moto CPU per batch. Two plain conditional writes give the same
guarantees here: if the config lock is refused, the job's IDEM item is deleted again and the job is BUSY.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from botocore.exceptions import ClientError

from stack.schema import PK, SK, TTL_ATTRIBUTE, idempotency_pk, user_pk
from stack.worker.ddb import to_ddb

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
        put_idem, update_lock = self._actions(request, owner, now, lease_until)
        try:
            self._ddb.put_item(**put_idem["Put"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            status = (exc.response.get("Item") or {}).get("status", {}).get("S")
            return LockResult(LockState.COMPLETED if status == "COMPLETED" else LockState.BUSY)
        try:
            self._ddb.update_item(**update_lock["Update"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            key = self.lock_key(request.idempotency_key)  # another job of this config runs: give the key back
            self._ddb.delete_item(TableName=self._table, Key=to_ddb(key))
            return LockResult(LockState.BUSY)
        return LockResult(LockState.ACQUIRED, lease_until)

    def _actions(self, request: LockRequest, owner: str, now: float, lease_until: float) -> list[dict[str, Any]]:
        condition = "attribute_not_exists(PK) OR #ttl < :now OR (#s = :inprogress AND leaseUntil < :now)"
        names = {"#ttl": TTL_ATTRIBUTE, "#s": "status"}
        values = {":now": {"N": str(int(now))}, ":inprogress": {"S": "INPROGRESS"}}
        idem = {PK: idempotency_pk(request.idempotency_key), SK: idempotency_pk(request.idempotency_key),
                "status": "INPROGRESS", "owner": owner, "jobId": request.job_id, "leaseUntil": int(lease_until),
                TTL_ATTRIBUTE: int(now + self._completed_ttl_s)}
        put_idem = {"Put": {"TableName": self._table, "Item": to_ddb(idem), "ConditionExpression": condition,
                            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        # The config lock is UPDATED, not replaced: it keeps ``writtenIds`` left by an interrupted run (RETRY).
        update_lock = {"Update": {
            "TableName": self._table,
            "Key": to_ddb(config_lock_key(request.user_id, request.source_connection_id, request.data_type)),
            "UpdateExpression": "SET #s = :inprogress, #o = :owner, jobId = :job, leaseUntil = :lease, #ttl = :ttl",
            "ConditionExpression": condition + " OR #s = :retry",
            "ExpressionAttributeNames": {**names, "#o": "owner"},
            "ExpressionAttributeValues": {**values, ":retry": {"S": "RETRY"}, ":owner": {"S": owner},
                                          ":job": {"S": request.job_id}, ":lease": {"N": str(int(lease_until))},
                                          ":ttl": {"N": str(int(now + self._completed_ttl_s))}}}}
        return [put_idem, update_lock]

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
    def lock_key(key: str) -> dict[str, str]:
        return {PK: idempotency_pk(key), SK: idempotency_pk(key)}
