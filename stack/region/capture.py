"""Which items a DynamoDB write request touched: the keys of PutItem, UpdateItem, DeleteItem, BatchWriteItem and
TransactWriteItems requests (JSON protocol), for one table. What a stream would tell, read from the request."""
from __future__ import annotations

from typing import Any, Mapping

from stack import schema
from stack.region.lww import ItemKey

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def operation_of(target: str | None) -> str:
    """``DynamoDB_20120810.PutItem`` -> ``PutItem``."""
    return (target or "").rpartition(".")[2]


def written_keys(operation: str, body: Mapping[str, Any], table: str) -> list[ItemKey]:
    """The (PK, SK) of every item of ``table`` the request writes or deletes ([] for reads and other tables)."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        if body.get("TableName") != table:
            return []
        return _keys([body.get("Item") if operation == "PutItem" else body.get("Key")])
    if operation == "BatchWriteItem":
        requests = (body.get("RequestItems") or {}).get(table) or []
        return _keys([(r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key")
                      for r in requests])
    if operation == "TransactWriteItems":
        images = []
        for entry in body.get("TransactItems") or []:
            for kind in ("Put", "Update", "Delete"):
                op = entry.get(kind)
                if op and op.get("TableName") == table:
                    images.append(op.get("Item") if kind == "Put" else op.get("Key"))
        return _keys(images)
    return []


def _keys(images: list[Any]) -> list[ItemKey]:
    keys = []
    for image in images:
        if not isinstance(image, Mapping):
            continue
        pk, sk = image.get(schema.PK), image.get(schema.SK)
        if isinstance(pk, Mapping) and isinstance(sk, Mapping) and "S" in pk and "S" in sk:
            keys.append((str(pk["S"]), str(sk["S"])))
    return keys
