"""Batched DynamoDB access for the worker: BatchGetItem of a batch's state, BatchWriteItem of its results.

Low-level client with the type (de)serializers: one boto3 client per process, no resource objects.
"""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Iterable

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SER = TypeSerializer()
_DESER = TypeDeserializer()
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25


def _to_decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_decimal(v) for v in value]
    return value


def _from_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_decimal(v) for v in value]
    return value


def to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(_to_decimal(v)) for k, v in item.items()}


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_decimal(_DESER.deserialize(v)) for k, v in item.items()}


def batch_get(ddb: Any, table: str, keys: Iterable[tuple[str, str]], max_rounds: int = 8) -> dict[tuple[str, str], dict]:
    """Every existing item among ``keys`` (PK, SK), by key. Unprocessed keys are retried with a short backoff."""
    unique = list(dict.fromkeys(keys))
    found: dict[tuple[str, str], dict] = {}
    for start in range(0, len(unique), BATCH_GET_MAX):
        request = {table: {"Keys": [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in unique[start:start + BATCH_GET_MAX]],
                           "ConsistentRead": True}}
        for attempt in range(max_rounds):
            response = ddb.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = from_ddb(raw)
                found[(item["PK"], item["SK"])] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed after retries")
    return found


def batch_write(ddb: Any, table: str, puts: Iterable[dict[str, Any]], deletes: Iterable[dict[str, str]] = (),
                max_rounds: int = 8) -> int:
    """Write ``puts`` (plain items) and ``deletes`` (plain keys) in BatchWriteItem calls of 25. Returns calls made.

    A key may appear once per request, so later puts of the same key replace earlier ones here.
    """
    requests: dict[tuple[str, str], dict[str, Any]] = {}
    for key in deletes:
        requests[(key["PK"], key["SK"])] = {"DeleteRequest": {"Key": to_ddb(key)}}
    for item in puts:
        requests[(item["PK"], item["SK"])] = {"PutRequest": {"Item": to_ddb(item)}}
    calls = 0
    pending = list(requests.values())
    for start in range(0, len(pending), BATCH_WRITE_MAX):
        chunk: dict[str, list] = {table: pending[start:start + BATCH_WRITE_MAX]}
        for attempt in range(max_rounds):
            calls += 1
            response = ddb.batch_write_item(RequestItems=chunk)
            chunk = response.get("UnprocessedItems") or {}
            if not chunk:
                break
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
        else:
            raise RuntimeError("BatchWriteItem left items unprocessed after retries")
    return calls
