"""Last-writer-wins bookkeeping of a two-region global table, as DynamoDB global tables (version 2019) do it:
every item carries the time of its last write; a replicated change is applied in the other region only when it is
newer than what that region holds, so concurrent writes converge on the latest one everywhere.

Each item also carries its version (``aws:rep:updatetime``/``aws:rep:updateregion``, as version 2017.11.29 of
global tables did): the capture listener stamps every write with it and the replicator's put is conditional on it,
so DynamoDB decides atomically. The ledger here (the replicator's memory) keeps the versions of deletes (a deleted
item carries nothing) and spares the writes that would lose anyway. Pure logic: unit-tested without any process."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

ItemKey = tuple[str, str]  # (PK, SK)


@dataclass(frozen=True)
class Version:
    """When an item was last written and in which region (the region breaks exact-time ties deterministically)."""

    ts: float
    region: str

    def newer_than(self, other: "Version | None") -> bool:
        return other is None or (self.ts, self.region) > (other.ts, other.region)


@dataclass
class LwwLedger:
    """Per region, the version of every item written there (locally or by replication)."""

    regions: tuple[str, ...]
    versions: dict[str, dict[ItemKey, Version]] = field(default_factory=dict)
    conflicts: int = 0   # replicated changes dropped because the destination held a newer write

    def __post_init__(self) -> None:
        for region in self.regions:
            self.versions.setdefault(region, {})

    def local_write(self, region: str, key: ItemKey, ts: float) -> Version:
        """A write acknowledged in ``region`` at ``ts`` (from the region's own services)."""
        version = Version(ts, region)
        current = self.versions[region].get(key)
        if version.newer_than(current):
            self.versions[region][key] = version
        return self.versions[region][key]

    def version(self, region: str, key: ItemKey) -> Version | None:
        return self.versions[region].get(key)

    def should_apply(self, destination: str, key: ItemKey, incoming: Version) -> bool:
        """True when ``incoming`` (the source's latest version of the item) wins in ``destination``."""
        if incoming.newer_than(self.versions[destination].get(key)):
            return True
        if self.versions[destination].get(key) != incoming:
            self.conflicts += 1
        return False

    def applied(self, destination: str, key: ItemKey, incoming: Version) -> None:
        self.versions[destination][key] = incoming


# ---- the version in the item: what makes the replicated write atomic ----------------------------------------------
# Global tables version 2017.11.29 kept each item's last write time and region in the item itself; the capture
# listener stamps every write with them (stamp_request), and the replicator's put carries a condition on them
# (newer_condition), so DynamoDB itself decides, atomically, whether the incoming image is newer than what the
# destination holds: a local write landing between the replicator's read and its put can no longer be overwritten.
UPDATE_TIME = "aws:rep:updatetime"
UPDATE_REGION = "aws:rep:updateregion"
_NAMES = {"#swsimRepTime": UPDATE_TIME, "#swsimRepRegion": UPDATE_REGION}
_SET_KEYWORD = re.compile(r"(?<![#:\w])SET\b", re.IGNORECASE)


def stamp(version: Version) -> dict[str, Any]:
    """The item attributes (DynamoDB JSON) carrying ``version``."""
    return {UPDATE_TIME: {"N": repr(version.ts)}, UPDATE_REGION: {"S": version.region}}


def version_of(item: Mapping[str, Any] | None) -> Version | None:
    """The version an item (DynamoDB JSON) carries, None when it has none (written before the pair existed)."""
    if not item or UPDATE_TIME not in item or UPDATE_REGION not in item:
        return None
    return Version(float(item[UPDATE_TIME]["N"]), str(item[UPDATE_REGION]["S"]))


def newer_condition(incoming: Version) -> dict[str, Any]:
    """PutItem/DeleteItem arguments that let the write through only when ``incoming`` is newer than the version the
    destination item holds (or it holds none): the same order as :meth:`Version.newer_than`."""
    return {"ConditionExpression": "attribute_not_exists(#swsimRepTime) OR #swsimRepTime < :swsimRepTime OR "
                                   "(#swsimRepTime = :swsimRepTime AND #swsimRepRegion < :swsimRepRegion)",
            "ExpressionAttributeNames": dict(_NAMES),
            "ExpressionAttributeValues": {":swsimRepTime": {"N": repr(incoming.ts)},
                                          ":swsimRepRegion": {"S": incoming.region}}}


def stamp_request(operation: str, body: dict[str, Any], table: str, version: Version) -> bool:
    """Add ``version`` to every item of ``table`` that a write request puts or updates (in place); True when the
    request changed. Deletes carry nothing (the item is gone; the replicator's ledger remembers their version)."""
    attrs = stamp(version)
    changed = False
    if operation == "PutItem" and body.get("TableName") == table and isinstance(body.get("Item"), dict):
        body["Item"].update(attrs)
        changed = True
    elif operation == "UpdateItem" and body.get("TableName") == table:
        _stamp_update(body, attrs)
        changed = True
    elif operation == "BatchWriteItem":
        for request in (body.get("RequestItems") or {}).get(table) or []:
            item = (request.get("PutRequest") or {}).get("Item")
            if isinstance(item, dict):
                item.update(attrs)
                changed = True
    elif operation == "TransactWriteItems":
        for entry in body.get("TransactItems") or []:
            put, update = entry.get("Put"), entry.get("Update")
            if put and put.get("TableName") == table and isinstance(put.get("Item"), dict):
                put["Item"].update(attrs)
                changed = True
            elif update and update.get("TableName") == table:
                _stamp_update(update, attrs)
                changed = True
    return changed


def _stamp_update(op: dict[str, Any], attrs: dict[str, Any]) -> None:
    """UpdateItem (or a transaction's Update): the stamp joins the SET clause (or the legacy AttributeUpdates)."""
    if "AttributeUpdates" in op and "UpdateExpression" not in op:
        op["AttributeUpdates"].update({name: {"Action": "PUT", "Value": value} for name, value in attrs.items()})
        return
    assignments = "#swsimRepTime = :swsimRepTime, #swsimRepRegion = :swsimRepRegion"
    expression = str(op.get("UpdateExpression") or "")
    match = _SET_KEYWORD.search(expression)
    if match:
        op["UpdateExpression"] = f"{expression[:match.end()]} {assignments},{expression[match.end():]}"
    else:
        op["UpdateExpression"] = f"{expression} SET {assignments}".strip()
    op["ExpressionAttributeNames"] = {**(op.get("ExpressionAttributeNames") or {}), **_NAMES}
    op["ExpressionAttributeValues"] = {**(op.get("ExpressionAttributeValues") or {}),
                                       ":swsimRepTime": attrs[UPDATE_TIME], ":swsimRepRegion": attrs[UPDATE_REGION]}
