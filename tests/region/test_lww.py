"""Last-writer-wins as DynamoDB global tables resolve concurrent writes (stack.region.lww), and the replicator's
conditional put that makes it atomic (against moto in-process)."""
from __future__ import annotations

import json
from typing import Any

import boto3
from moto import mock_aws

from stack.region.capture import written_keys
from stack.region.lww import (UPDATE_REGION, UPDATE_TIME, LwwLedger, Version, stamp, stamp_request, version_of)
from stack.region.replicator import APPLIED, LOST, SAME, Replicator

KEY = ("USER#u1", "JOB#j1")


def ledger() -> LwwLedger:
    return LwwLedger(("us-east-1", "us-west-2"))


def test_a_newer_replicated_write_is_applied() -> None:
    lww = ledger()
    lww.local_write("us-west-2", KEY, 10.0)
    incoming = lww.local_write("us-east-1", KEY, 11.0)
    assert lww.should_apply("us-west-2", KEY, incoming)
    lww.applied("us-west-2", KEY, incoming)
    assert lww.version("us-west-2", KEY) == Version(11.0, "us-east-1")


def test_an_older_replicated_write_loses_to_the_destination_s_newer_one() -> None:
    lww = ledger()
    old = lww.local_write("us-east-1", KEY, 10.0)
    lww.local_write("us-west-2", KEY, 12.0)
    assert not lww.should_apply("us-west-2", KEY, old)
    assert lww.conflicts == 1
    # ... and the newer one, replicated the other way, wins in the first region: both converge on it.
    newer = lww.version("us-west-2", KEY)
    assert newer is not None and lww.should_apply("us-east-1", KEY, newer)


def test_exact_ties_break_the_same_way_in_both_regions() -> None:
    a, b = Version(5.0, "us-east-1"), Version(5.0, "us-west-2")
    assert b.newer_than(a) and not a.newer_than(b)


def test_the_same_version_coming_back_is_not_a_conflict() -> None:
    lww = ledger()
    v = lww.local_write("us-east-1", KEY, 3.0)
    lww.applied("us-west-2", KEY, v)
    assert not lww.should_apply("us-west-2", KEY, v)
    assert lww.conflicts == 0


def test_a_local_write_older_than_what_the_region_holds_does_not_go_back_in_time() -> None:
    lww = ledger()
    lww.local_write("us-east-1", KEY, 9.0)
    lww.local_write("us-east-1", KEY, 8.0)
    assert lww.version("us-east-1", KEY) == Version(9.0, "us-east-1")


def test_written_keys_of_every_write_operation() -> None:
    item = {"PK": {"S": "A"}, "SK": {"S": "B"}, "x": {"N": "1"}}
    key = {"PK": {"S": "A"}, "SK": {"S": "C"}}
    t = "T"
    assert written_keys("PutItem", {"TableName": t, "Item": item}, t) == [("A", "B")]
    assert written_keys("UpdateItem", {"TableName": t, "Key": key}, t) == [("A", "C")]
    assert written_keys("DeleteItem", {"TableName": t, "Key": key}, t) == [("A", "C")]
    assert written_keys("PutItem", {"TableName": "other", "Item": item}, t) == []
    batch = {"RequestItems": {t: [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": key}}]}}
    assert written_keys("BatchWriteItem", batch, t) == [("A", "B"), ("A", "C")]
    transact = {"TransactItems": [{"Put": {"TableName": t, "Item": item}},
                                  {"ConditionCheck": {"TableName": t, "Key": key}},
                                  {"Update": {"TableName": t, "Key": key}}]}
    assert written_keys("TransactWriteItems", transact, t) == [("A", "B"), ("A", "C")]
    assert written_keys("GetItem", {"TableName": t, "Key": key}, t) == []


# ---- the version in the item: the replicated write is conditional (atomic LWW) ----------------------------------
E, W, TABLE = "us-east-1", "us-west-2", "SyncWellMetadata"
ITEM_KEY = {"PK": {"S": KEY[0]}, "SK": {"S": KEY[1]}}


def _tables(regions: tuple[str, ...] = (E, W)) -> dict[str, Any]:
    clients = {r: boto3.client("dynamodb", region_name=r) for r in regions}
    for client in clients.values():
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                       {"AttributeName": "SK", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                                  {"AttributeName": "SK", "AttributeType": "S"}])
    return clients


def _replicator(clients: dict[str, Any]) -> Replicator:
    """A replicator on the in-process moto tables, with no lag (its control port is never served here)."""
    replicator = Replicator(TABLE, "http://127.0.0.1:9", [E, W], 0.0, 0.0, 1)
    replicator.clients = clients
    return replicator


def _image(value: str, version: Version | None) -> dict[str, Any]:
    return {**ITEM_KEY, "v": {"S": value}, **(stamp(version) if version else {})}


def _held(client: Any) -> str:
    return str(client.get_item(TableName=TABLE, Key=ITEM_KEY, ConsistentRead=True)["Item"]["v"]["S"])


@mock_aws
def test_the_condition_lets_only_a_newer_version_through() -> None:
    client = _tables((W,))[W]
    replicator = _replicator({W: client})
    put = lambda value, version: replicator._put_if_newer(client, KEY, _image(value, version), version)  # noqa: E731
    assert put("first", Version(10.0, W)) == APPLIED            # no item yet
    assert put("older", Version(9.5, E)) == LOST and _held(client) == "first"
    assert put("first-again", Version(10.0, W)) == SAME and _held(client) == "first"
    assert put("tie", Version(10.0, E)) == LOST                 # same time: us-west-2 > us-east-1, as newer_than
    assert put("newer", Version(10.001, E)) == APPLIED and _held(client) == "newer"
    assert version_of(client.get_item(TableName=TABLE, Key=ITEM_KEY)["Item"]) == Version(10.001, E)
    # An item written before the pair existed carries no version: any replicated one wins.
    client.put_item(TableName=TABLE, Item=_image("unstamped", None))
    assert put("replicated", Version(1.0, E)) == APPLIED
    # A replicated delete is conditional too: it loses to a newer local write.
    client.put_item(TableName=TABLE, Item=_image("local", Version(20.0, W)))
    assert replicator._put_if_newer(client, KEY, None, Version(19.0, E)) == LOST and _held(client) == "local"
    assert replicator._put_if_newer(client, KEY, None, Version(21.0, E)) == APPLIED
    assert "Item" not in client.get_item(TableName=TABLE, Key=ITEM_KEY)


@mock_aws
def test_a_local_write_landing_between_the_replicator_s_read_and_its_put_is_not_overwritten() -> None:
    # The race of check-then-write: the destination's local write lands after the replicator read the source's
    # (older) image and before its put; its capture has not been noted yet (the 200 is still on its way back), so
    # the ledger says "apply". Only the condition in DynamoDB can keep the newer local item.
    clients = _tables()
    replicator = _replicator(clients)
    clients[E].put_item(TableName=TABLE, Item=_image("from-east", Version(100.0, E)))
    replicator.captured(E, [KEY], 100.0)
    read = replicator._batch_get

    def read_then_local_write(client: Any, keys: list[Any]) -> dict[Any, Any]:
        images = read(client, keys)
        clients[W].put_item(TableName=TABLE, Item=_image("local-west", Version(100.5, W)))
        return images

    replicator._batch_get = read_then_local_write  # type: ignore[method-assign]
    direction = replicator.directions[(E, W)]
    replicator.apply(direction, replicator.due_changes(direction, now=1e12))
    assert _held(clients[W]) == "local-west"
    assert (direction.applied, direction.dropped_lww, direction.coalesced, direction.errors) == (0, 1, 0, 0)
    # The local write, replicated the other way, wins in the first region: both converge on it.
    replicator._batch_get = read  # type: ignore[method-assign]
    replicator.captured(W, [KEY], 100.5)
    back = replicator.directions[(W, E)]
    replicator.apply(back, replicator.due_changes(back, now=1e12))
    assert _held(clients[E]) == "local-west" and back.applied == 1


def test_stamp_request_adds_the_version_to_every_put_and_update_of_the_table() -> None:
    v = Version(12.5, W)
    attrs = stamp(v)
    put = {"TableName": TABLE, "Item": dict(ITEM_KEY)}
    assert stamp_request("PutItem", put, TABLE, v) and put["Item"][UPDATE_TIME] == {"N": "12.5"}
    other = {"TableName": "Other", "Item": dict(ITEM_KEY)}
    assert not stamp_request("PutItem", other, TABLE, v) and UPDATE_TIME not in other["Item"]
    delete = {"TableName": TABLE, "Key": dict(ITEM_KEY)}
    assert not stamp_request("DeleteItem", delete, TABLE, v) and delete == {"TableName": TABLE, "Key": ITEM_KEY}
    legacy = {"TableName": TABLE, "Key": dict(ITEM_KEY), "AttributeUpdates": {"a": {"Action": "PUT", "Value": {"N": "1"}}}}
    stamp_request("UpdateItem", legacy, TABLE, v)
    assert legacy["AttributeUpdates"][UPDATE_REGION] == {"Action": "PUT", "Value": attrs[UPDATE_REGION]}
    batch = {"RequestItems": {TABLE: [{"PutRequest": {"Item": dict(ITEM_KEY)}}, {"DeleteRequest": {"Key": ITEM_KEY}}]}}
    assert stamp_request("BatchWriteItem", batch, TABLE, v)
    assert batch["RequestItems"][TABLE][0]["PutRequest"]["Item"][UPDATE_REGION] == {"S": W}
    transact = {"TransactItems": [{"ConditionCheck": {"TableName": TABLE, "Key": ITEM_KEY, "ConditionExpression": "x"}},
                                  {"Update": {"TableName": TABLE, "Key": ITEM_KEY, "UpdateExpression": "ADD n :one",
                                              "ExpressionAttributeValues": {":one": {"N": "1"}}}}]}
    assert stamp_request("TransactWriteItems", transact, TABLE, v)
    assert "SET #swsimRepTime" in transact["TransactItems"][1]["Update"]["UpdateExpression"]


@mock_aws
def test_a_stamped_update_expression_is_valid_and_keeps_the_application_s_changes() -> None:
    client = _tables((E,))[E]
    original = {**ITEM_KEY, "set": {"S": "old"}, "b": {"S": "old"}, "n": {"N": "1"}}
    for expression in ("SET #set = :a", "REMOVE #set SET b = :a", "ADD n :one", "set b = :a", "REMOVE b", None):
        request: dict[str, Any] = {"TableName": TABLE, "Key": dict(ITEM_KEY)}
        if expression:
            request["UpdateExpression"] = expression
            if "#set" in expression:
                request["ExpressionAttributeNames"] = {"#set": "set"}
            values = {k: val for k, val in ((":a", {"S": "new"}), (":one", {"N": "1"})) if k in expression}
            if values:
                request["ExpressionAttributeValues"] = values
        before = json.loads(json.dumps(request))
        assert stamp_request("UpdateItem", request, TABLE, Version(7.25, E))
        client.put_item(TableName=TABLE, Item=original)
        client.update_item(**request)
        stamped = client.get_item(TableName=TABLE, Key=ITEM_KEY)["Item"]
        client.put_item(TableName=TABLE, Item=original)
        if expression:
            client.update_item(**before)
        plain = client.get_item(TableName=TABLE, Key=ITEM_KEY)["Item"]
        assert version_of(stamped) == Version(7.25, E), expression
        assert {k: val for k, val in stamped.items() if not k.startswith("aws:rep:")} == plain, expression


@mock_aws
def test_a_change_an_earlier_copy_already_carried_is_coalesced_not_a_conflict() -> None:
    clients = _tables()
    replicator = _replicator(clients)
    clients[E].put_item(TableName=TABLE, Item=_image("v1", Version(50.0, E)))
    replicator.captured(E, [KEY], 50.0)
    direction = replicator.directions[(E, W)]
    first = replicator.due_changes(direction, now=1e12)
    # The item is written again before the first change is copied: the copy reads the newest image (v2) ...
    clients[E].put_item(TableName=TABLE, Item=_image("v2", Version(51.0, E)))
    replicator.captured(E, [KEY], 51.0)
    replicator.apply(direction, first)
    # ... so the second change finds its version already there (the ledger knows it; so would the condition).
    replicator.apply(direction, replicator.due_changes(direction, now=1e12))
    assert _held(clients[W]) == "v2"
    assert (direction.applied, direction.coalesced, direction.dropped_lww, replicator.ledger.conflicts) == (1, 1, 0, 0)
    replicator.ledger.versions[W].clear()     # the ledger forgot (a replicator restart): DynamoDB still knows
    replicator.captured(E, [KEY], 51.0)
    replicator.apply(direction, replicator.due_changes(direction, now=1e12))
    assert (direction.applied, direction.coalesced, direction.dropped_lww) == (1, 2, 0)
