"""The hot path's exactly-once locks [001 §3a], acquired for a whole batch in ONE TransactWriteItems call.

Two conditional puts per job, in the metadata table:
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

All jobs of a batch go in one transaction (up to 50 jobs = 100 actions): the usual case costs one DynamoDB call
for ten jobs. When conditions fail, the cancellation reasons say which; those jobs are classified (COMPLETED /
BUSY) and the transaction is retried without them.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any, Sequence

from botocore.exceptions import ClientError

from stack.schema import PK, SK, TTL_ATTRIBUTE, idempotency_pk, user_pk
from stack.worker.ddb import to_ddb

MAX_ROUNDS = 4


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
    def __init__(self, ddb: Any, table: str, *, lease_s: float, completed_ttl_s: int) -> None:
        self._ddb = ddb
        self._table = table
        self._lease_s = lease_s
        self._completed_ttl_s = completed_ttl_s

    def acquire_many(self, requests: Sequence[LockRequest], owner: str) -> list[LockResult]:
        """One result per request, in order. Raises ClientError/BotoCoreError when DynamoDB is unavailable."""
        results: list[LockResult | None] = [None] * len(requests)
        seen_keys: set[tuple[str, str]] = set()
        pending: list[int] = []
        for index, request in enumerate(requests):  # one transaction may touch an item once
            keys = {(idempotency_pk(request.idempotency_key), "I"),
                    tuple(config_lock_key(request.user_id, request.source_connection_id, request.data_type).values())}
            if keys & seen_keys:
                results[index] = LockResult(LockState.BUSY)
            else:
                seen_keys |= keys
                pending.append(index)
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            now = time.time()
            lease_until = now + self._lease_s
            actions = []
            for index in pending:
                actions.extend(self._actions(requests[index], owner, now, lease_until))
            try:
                self._ddb.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                pending = self._classify(pending, reasons, results)
                continue
            for index in pending:
                results[index] = LockResult(LockState.ACQUIRED, lease_until)
            pending = []
        for index in pending:  # still contended after the retries: treat as busy
            results[index] = LockResult(LockState.BUSY)
        return [r if r is not None else LockResult(LockState.BUSY) for r in results]

    def _classify(self, pending: list[int], reasons: list[dict], results: list[LockResult | None]) -> list[int]:
        retry: list[int] = []
        for position, index in enumerate(pending):
            idem, lock = (reasons[2 * position: 2 * position + 2] + [{}, {}])[:2]
            idem_code, lock_code = idem.get("Code", "None"), lock.get("Code", "None")
            if idem_code == "ConditionalCheckFailed":
                status = (idem.get("Item") or {}).get("status", {}).get("S")
                results[index] = LockResult(LockState.COMPLETED if status == "COMPLETED" else LockState.BUSY)
            elif lock_code == "ConditionalCheckFailed" or "Conflict" in idem_code or "Conflict" in lock_code:
                results[index] = LockResult(LockState.BUSY)
            else:
                retry.append(index)  # cancelled only because another job's condition failed
        return retry

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

    def completed_item(self, key: str, job_id: str) -> dict[str, Any]:
        now = time.time()
        return {PK: idempotency_pk(key), SK: idempotency_pk(key), "status": "COMPLETED", "jobId": job_id,
                "completedAt": int(now), TTL_ATTRIBUTE: int(now + self._completed_ttl_s)}

    @staticmethod
    def lock_key(key: str) -> dict[str, str]:
        return {PK: idempotency_pk(key), SK: idempotency_pk(key)}
