"""DynamoDB TTL for the local stack: moto never expires items, so something must.

What carries ``ttl`` (schema.TTL_ATTRIBUTE) in the metadata table: ``IDEM##`` COMPLETED marks (24 h), the API's
Idempotency-Key records (24 h), the config locks ``LOCK#SYNCCONFIG#...`` (24 h past their last use), job items
(30 days), export records (7 days), the token refresh journal (stack/worker/refreshjournal.py). On AWS, DynamoDB
deletes them itself some time after ``ttl``; on moto they would stay forever, so every Scan (the DLQ tools, capacity
validation, chaos invariants) and every partition Query grows with the stack's age, and an expired API
Idempotency-Key would keep answering with its old job.

The sweeper (run by the scheduler, once per pass) does what DynamoDB's TTL process does:
- a Scan filtered on ``ttl < now``, resumed where the previous pass stopped (the ``LastEvaluatedKey`` is kept),
  at most ``items_per_pass`` items EVALUATED per pass: the cost per pass is bounded whatever the table's size
  (moto filters in Python, so a full-table Scan every minute would compete with the hot path); a full cycle over
  the table takes ``table items / items_per_pass`` passes;
- a conditional ``DeleteItem`` per expired item (``ttl < now`` again), not a BatchWriteItem: a lock or journal
  item can be re-taken between our Scan and our delete (taking it sets a new ``ttl``), and an unconditional delete
  would drop a live lock. DynamoDB's own TTL deletions never delete an item whose ``ttl`` moved into the future.
  The deletes of a pass are bounded too (``max_deletes_per_pass``).

Disabled (``scheduler.ttl_sweep``: ``auto``, the default) when DynamoDB is real AWS (no endpoint override, or an
``amazonaws.com`` endpoint): there the service expires items and a sweeper would only add cost. ``on`` / ``off``
force it.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from stack.aws_clients import endpoint_for
from stack.schema import PK, SK, TTL_ATTRIBUTE

log = logging.getLogger("syncwell.scheduler.ttlsweep")
ITEMS_PER_PASS = 2000
MAX_DELETES_PER_PASS = 500
DELETE_PARALLELISM = 4


@dataclass
class SweepResult:
    evaluated: int = 0
    expired: int = 0
    deleted: int = 0
    cycle_complete: bool = False   # this pass reached the end of the table (the next one starts over)


def sweep_enabled(mode: str, env: Mapping[str, str]) -> bool:
    """``auto``: on unless DynamoDB is AWS itself (which expires TTL items on its own)."""
    mode = str(mode).lower()
    if mode in ("on", "true", "1"):
        return True
    if mode in ("off", "false", "0"):
        return False
    endpoint = endpoint_for("dynamodb", env)
    return bool(endpoint) and not (urlparse(endpoint).hostname or "").endswith("amazonaws.com")


class TtlSweeper:
    def __init__(self, ddb: Any, table: str, *, items_per_pass: int = ITEMS_PER_PASS,
                 max_deletes_per_pass: int = MAX_DELETES_PER_PASS) -> None:
        self._ddb = ddb
        self._table = table
        self._items_per_pass = max(1, items_per_pass)
        self._max_deletes = max(1, max_deletes_per_pass)
        self._resume: dict[str, Any] | None = None   # where the previous pass stopped
        self.total_deleted = 0

    def sweep(self, now: float | None = None) -> SweepResult:
        now = time.time() if now is None else now
        result = SweepResult()
        expired: list[dict[str, Any]] = []
        while result.evaluated < self._items_per_pass and len(expired) < self._max_deletes:
            request: dict[str, Any] = {
                "TableName": self._table, "Limit": min(1000, self._items_per_pass - result.evaluated),
                "FilterExpression": "#ttl < :now", "ProjectionExpression": "#pk, #sk",
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE, "#pk": PK, "#sk": SK},
                "ExpressionAttributeValues": {":now": {"N": str(int(now))}}}
            if self._resume:
                request["ExclusiveStartKey"] = self._resume
            page = self._ddb.scan(**request)
            result.evaluated += int(page.get("ScannedCount", 0))
            expired.extend(page.get("Items", []))
            self._resume = page.get("LastEvaluatedKey")
            if not self._resume:
                result.cycle_complete = True
                break
        expired = expired[:self._max_deletes]   # the rest is found again on the next cycle
        result.expired = len(expired)
        if expired:
            with ThreadPoolExecutor(DELETE_PARALLELISM) as pool:
                result.deleted = sum(pool.map(lambda key: self._delete(key, now), expired))
        self.total_deleted += result.deleted
        return result

    def _delete(self, key: dict[str, Any], now: float) -> int:
        try:
            self._ddb.delete_item(TableName=self._table, Key={PK: key[PK], SK: key[SK]},
                                  ConditionExpression="#ttl < :now", ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                                  ExpressionAttributeValues={":now": {"N": str(int(now))}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return 0   # re-taken (a lock) or already gone since the Scan: not expired any more
            raise
        return 1
