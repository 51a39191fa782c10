"""The DynamoDB semantics the stack relies on, over HTTP with boto3, against stock moto and moto with
stack.dynamodb_speedup (the direct data-plane path, cached expression parsing, partition-local Query): both must
answer the same (conditional writes, update expressions, batches, Query on the table and GSIs, transactions...)."""
from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from stack import aws_clients
from stack.bootstrap import table_definition
from stack.dynamodb_speedup import FAST_PATH_HEADER
from stack.launcher import Stack
from stack.launcher.moto_service import DYNAMODB_SPEEDUP_ENV
from stack.schema import REAUTH_GSI, SCHEDULER_GSI

LOCK_CONDITION = "attribute_not_exists(PK) OR #ttl < :now OR (#s = :inprogress AND leaseUntil < :now)"


@pytest.fixture(scope="module", params=["speedup", "stock"])
def ddb_variant(request):
    extra_env = {} if request.param == "speedup" else {DYNAMODB_SPEEDUP_ENV: "0"}
    stack = Stack.start(users=0, services={"moto-dynamodb"}, extra_env=extra_env)
    try:
        yield request.param, aws_clients.client("dynamodb", stack.aws_env)
    finally:
        stack.stop()


@pytest.fixture
def ddb(ddb_variant):
    return ddb_variant[1]


@pytest.fixture
def table(ddb) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    ddb.create_table(**table_definition(name))
    return name


def s(value: str) -> dict:
    return {"S": value}


def n(value: int) -> dict:
    return {"N": str(value)}


def key(pk: str, sk: str) -> dict:
    return {"PK": s(pk), "SK": s(sk)}


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def put_lock(ddb, table: str, name: str, now: int, lease: int, status: str = "INPROGRESS") -> None:
    ddb.put_item(TableName=table, Item={**key(name, name), "status": s(status), "leaseUntil": n(lease),
                                        "ttl": n(now + 86400)},
                 ConditionExpression=LOCK_CONDITION, ExpressionAttributeNames={"#ttl": "ttl", "#s": "status"},
                 ExpressionAttributeValues={":now": n(now), ":inprogress": s("INPROGRESS")},
                 ReturnValuesOnConditionCheckFailure="ALL_OLD")


def test_the_variant_under_test_is_the_one_serving(ddb_variant, table):
    variant, ddb = ddb_variant
    response = ddb.get_item(TableName=table, Key=key("a", "b"))
    served_fast = FAST_PATH_HEADER in response["ResponseMetadata"]["HTTPHeaders"]
    assert served_fast == (variant == "speedup")


def test_conditional_put_admits_new_expired_and_stale_leases_and_returns_the_old_item(ddb, table):
    now = int(time.time())
    put_lock(ddb, table, "IDEM##1", now, lease=now + 60)
    with pytest.raises(ClientError) as refused:
        put_lock(ddb, table, "IDEM##1", now, lease=now + 60)
    assert error_code(refused.value) == "ConditionalCheckFailedException"
    assert refused.value.response["Item"]["status"] == s("INPROGRESS")
    assert refused.value.response["Item"]["leaseUntil"] == n(now + 60)
    put_lock(ddb, table, "IDEM##1", now + 120, lease=now + 180)  # lease expired: OR branch admits it
    item = ddb.get_item(TableName=table, Key=key("IDEM##1", "IDEM##1"), ConsistentRead=True)["Item"]
    assert item["leaseUntil"] == n(now + 180)
    ddb.put_item(TableName=table, Item={**key("IDEM##2", "IDEM##2"), "status": s("COMPLETED"), "ttl": n(now - 1)})
    put_lock(ddb, table, "IDEM##2", now, lease=now + 60)  # a past ttl admits a new lock (moto keeps the item)
    ddb.put_item(TableName=table, Item={**key("IDEM##3", "IDEM##3"), "status": s("COMPLETED"), "ttl": n(now + 99)})
    with pytest.raises(ClientError) as completed:
        put_lock(ddb, table, "IDEM##3", now, lease=now + 60)
    assert completed.value.response["Item"]["status"] == s("COMPLETED")


def test_a_failed_condition_without_return_values_returns_no_item(ddb, table):
    ddb.put_item(TableName=table, Item={**key("p", "s"), "v": n(1)})
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName=table, Item={**key("p", "s"), "v": n(2)}, ConditionExpression="attribute_not_exists(PK)")
    assert error_code(refused.value) == "ConditionalCheckFailedException"
    assert "Item" not in refused.value.response
    assert ddb.get_item(TableName=table, Key=key("p", "s"))["Item"]["v"] == n(1)


def test_the_workers_config_lock_update_creates_blocks_and_resumes_after_retry(ddb, table):
    now = int(time.time())

    def take(owner: str, at: int) -> None:
        ddb.update_item(
            TableName=table, Key=key("USER#u1", "LOCK#SYNCCONFIG#c1##workout"),
            UpdateExpression="SET #s = :inprogress, #o = :owner, jobId = :job, leaseUntil = :lease, #ttl = :ttl",
            ConditionExpression=LOCK_CONDITION + " OR #s = :retry",
            ExpressionAttributeNames={"#ttl": "ttl", "#s": "status", "#o": "owner"},
            ExpressionAttributeValues={":now": n(at), ":inprogress": s("INPROGRESS"), ":retry": s("RETRY"),
                                       ":owner": s(owner), ":job": s(f"job-{owner}"), ":lease": n(at + 60),
                                       ":ttl": n(at + 86400)})

    take("w1", now)
    with pytest.raises(ClientError) as busy:
        take("w2", now + 1)
    assert error_code(busy.value) == "ConditionalCheckFailedException"
    ddb.put_item(TableName=table, Item={**key("USER#u1", "LOCK#SYNCCONFIG#c1##workout"), "status": s("RETRY"),
                                        "writtenIds": {"L": [s("x1"), s("x2")]}, "ttl": n(now + 86400)})
    take("w3", now + 2)
    item = ddb.get_item(TableName=table, Key=key("USER#u1", "LOCK#SYNCCONFIG#c1##workout"))["Item"]
    assert item["owner"] == s("w3") and item["status"] == s("INPROGRESS") and item["leaseUntil"] == n(now + 62)
    assert item["writtenIds"] == {"L": [s("x1"), s("x2")]}  # an update keeps what the RETRY run wrote


def test_update_expressions_set_remove_add_if_not_exists_list_append_and_return_values(ddb, table):
    k = key("USER#u", "SYNCCONFIG#c##steps")
    names = {"#c": "cursor"}  # a reserved word, as in the worker's config items
    created = ddb.update_item(
        TableName=table, Key=k, ReturnValues="ALL_NEW", ExpressionAttributeNames=names,
        UpdateExpression="SET #c = if_not_exists(#c, :zero), tags = :tags, gone = :x ADD version :one",
        ExpressionAttributeValues={":zero": n(0), ":tags": {"L": [s("a")]}, ":x": s("bye"), ":one": n(1)})
    assert created["Attributes"]["cursor"] == n(0) and created["Attributes"]["version"] == n(1)
    updated = ddb.update_item(
        TableName=table, Key=k, ReturnValues="UPDATED_OLD", ExpressionAttributeNames=names,
        UpdateExpression="SET #c = if_not_exists(#c, :zero), tags = list_append(tags, :more), "
                         "tally = #c + :five REMOVE gone ADD version :one, labels :labels",
        ExpressionAttributeValues={":zero": n(7), ":more": {"L": [s("b")]}, ":five": n(5), ":one": n(1),
                                   ":labels": {"SS": ["x", "y"]}})
    assert updated["Attributes"]["version"] == n(1) and updated["Attributes"]["gone"] == s("bye")
    item = ddb.get_item(TableName=table, Key=k)["Item"]
    assert item["cursor"] == n(0)  # if_not_exists kept the existing value
    assert item["tags"] == {"L": [s("a"), s("b")]}
    assert item["tally"] == n(5) and item["version"] == n(2) and "gone" not in item
    assert sorted(item["labels"]["SS"]) == ["x", "y"]
    with pytest.raises(ClientError) as refused:
        ddb.update_item(TableName=table, Key=k, UpdateExpression="SET #c = :c", ConditionExpression="version > :v",
                        ExpressionAttributeNames=names, ExpressionAttributeValues={":c": n(9), ":v": n(5)},
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert error_code(refused.value) == "ConditionalCheckFailedException"
    assert refused.value.response["Item"]["version"] == n(2)
    assert ddb.get_item(TableName=table, Key=k)["Item"]["cursor"] == n(0)


def test_the_same_expression_with_other_names_and_values_is_evaluated_afresh(ddb, table):
    """Parsed expressions and passed structure checks are cached: new values and names must still count."""
    k = key("p", "cache")
    condition = "#f <> :v OR attribute_not_exists(#f)"
    for attribute, value in (("a", 1), ("b", 2), ("a", 3)):
        ddb.update_item(TableName=table, Key=k, UpdateExpression="SET #f = :v", ConditionExpression=condition,
                        ExpressionAttributeNames={"#f": attribute}, ExpressionAttributeValues={":v": n(value)})
    item = ddb.get_item(TableName=table, Key=k)["Item"]
    assert (item["a"], item["b"]) == (n(3), n(2))
    with pytest.raises(ClientError) as key_update:  # same expression, but now it names a key attribute
        ddb.update_item(TableName=table, Key=k, UpdateExpression="SET #f = :v", ConditionExpression=condition,
                        ExpressionAttributeNames={"#f": "SK"}, ExpressionAttributeValues={":v": s("other")})
    assert error_code(key_update.value) == "ValidationException"
    with pytest.raises(ClientError) as overlapping:
        ddb.update_item(TableName=table, Key=k, UpdateExpression="SET #f = :v, #g = :v",
                        ExpressionAttributeNames={"#f": "a", "#g": "a"}, ExpressionAttributeValues={":v": n(1)})
    assert error_code(overlapping.value) == "ValidationException"
    with pytest.raises(ClientError) as unused:
        ddb.update_item(TableName=table, Key=k, UpdateExpression="SET #f = :v",
                        ExpressionAttributeNames={"#f": "a"}, ExpressionAttributeValues={":v": n(1), ":w": n(2)})
    assert error_code(unused.value) == "ValidationException"


def test_errors_are_moto_errors(ddb, table):
    with pytest.raises(ClientError) as missing:
        ddb.get_item(TableName="no-such-table", Key=key("a", "b"))
    assert error_code(missing.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as bad:
        ddb.update_item(TableName=table, Key=key("a", "b"), UpdateExpression="SET = :v",
                        ExpressionAttributeValues={":v": n(1)})
    assert error_code(bad.value) == "ValidationException"


def test_batch_write_and_batch_get(ddb, table):
    ddb.put_item(TableName=table, Item={**key("USER#b", "JOB#old"), "status": s("RUNNING")})
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {**key("USER#b", f"JOB#{i}"), "status": s("SUCCEEDED"), "n": n(i)}}} for i in range(20)
    ] + [{"DeleteRequest": {"Key": key("USER#b", "JOB#old")}}]})
    wanted = [key("USER#b", f"JOB#{i}") for i in range(0, 25, 2)] + [key("USER#b", "JOB#old")]
    got = ddb.batch_get_item(RequestItems={table: {"Keys": wanted, "ConsistentRead": True}})
    items = got["Responses"][table]
    assert sorted(int(i["n"]["N"]) for i in items) == list(range(0, 20, 2))
    assert not got.get("UnprocessedKeys")
    with pytest.raises(ClientError) as duplicate:
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": key("USER#b", "JOB#1")}}] * 2})
    assert error_code(duplicate.value) == "ValidationException"


def test_query_a_partition_in_order_with_prefix_filter_and_pagination(ddb, table):
    for i in range(12):
        ddb.put_item(TableName=table, Item={**key("USER#q", f"JOB#{i:02d}"), "ok": {"BOOL": i % 3 != 0}})
    ddb.put_item(TableName=table, Item={**key("USER#q", "PROFILE"), "tier": s("PRO")})
    ddb.put_item(TableName=table, Item={**key("USER#other", "JOB#00"), "ok": {"BOOL": True}})
    pages, kwargs = [], {"TableName": table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :job)",
                         "ExpressionAttributeValues": {":pk": s("USER#q"), ":job": s("JOB#")}, "Limit": 5}
    while True:
        page = ddb.query(**kwargs)
        pages.append([i["SK"]["S"] for i in page["Items"]])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert [sk for page in pages for sk in page] == [f"JOB#{i:02d}" for i in range(12)]
    assert [len(p) for p in pages][:2] == [5, 5]
    backwards = ddb.query(TableName=table, KeyConditionExpression="PK = :pk", ScanIndexForward=False,
                          ExpressionAttributeValues={":pk": s("USER#q")})
    assert [i["SK"]["S"] for i in backwards["Items"]][:2] == ["PROFILE", "JOB#11"]
    filtered = ddb.query(TableName=table, KeyConditionExpression="PK = :pk AND SK BETWEEN :a AND :b",
                         FilterExpression="ok = :yes",
                         ExpressionAttributeValues={":pk": s("USER#q"), ":a": s("JOB#03"), ":b": s("JOB#07"),
                                                    ":yes": {"BOOL": True}})
    assert [i["SK"]["S"] for i in filtered["Items"]] == ["JOB#04", "JOB#05", "JOB#07"]
    assert (filtered["Count"], filtered["ScannedCount"]) == (3, 5)
    counted = ddb.query(TableName=table, KeyConditionExpression="PK = :pk", Select="COUNT",
                        ExpressionAttributeValues={":pk": s("USER#q")})
    assert counted["Count"] == 13
    assert ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                     ExpressionAttributeValues={":pk": s("USER#nobody")})["Items"] == []


def test_query_the_scheduler_gsi_numeric_order_range_filter_and_pagination(ddb, table):
    now = 1_000
    for i in range(15):
        ddb.put_item(TableName=table, Item={
            **key(f"USER#g{i:02d}", "SYNCCONFIG#c##workout"), "SyncTierShardId": s(f"PRO#{i % 2}"),
            "NextSyncTimestamp": n(now + (15 - i) * 7), "enabled": {"BOOL": i != 5}})
    ddb.put_item(TableName=table, Item={**key("USER#nogsi", "SYNCCONFIG#c##workout"), "enabled": {"BOOL": True}})
    due, kwargs = [], {"TableName": table, "IndexName": SCHEDULER_GSI, "Limit": 2,
                       "KeyConditionExpression": "SyncTierShardId = :shard AND NextSyncTimestamp <= :due",
                       "FilterExpression": "enabled = :yes",
                       "ExpressionAttributeValues": {":shard": s("PRO#1"), ":due": n(now + 60), ":yes": {"BOOL": True}}}
    while True:
        page = ddb.query(**kwargs)
        due += [(int(i["NextSyncTimestamp"]["N"]), i["PK"]["S"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        assert set(page["LastEvaluatedKey"]) == {"PK", "SK", "SyncTierShardId", "NextSyncTimestamp"}
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    expected = sorted((now + (15 - i) * 7, f"USER#g{i:02d}") for i in range(1, 15, 2)
                      if i != 5 and now + (15 - i) * 7 <= now + 60)
    assert due == expected  # numeric order (1014 after 1007..., not string order), the disabled one filtered
    everything = ddb.query(TableName=table, IndexName=SCHEDULER_GSI, KeyConditionExpression="SyncTierShardId = :shard",
                           ExpressionAttributeValues={":shard": s("PRO#0")}, ScanIndexForward=False)
    stamps = [int(i["NextSyncTimestamp"]["N"]) for i in everything["Items"]]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == 8


def test_a_sparse_gsi_holds_only_items_carrying_its_key(ddb, table):
    ddb.put_item(TableName=table, Item={**key("USER#r1", "CONN#a"), "ReAuthStatus": s("NEEDS_REAUTH")})
    ddb.put_item(TableName=table, Item={**key("USER#r2", "CONN#b"), "status": s("active")})
    ddb.put_item(TableName=table, Item={**key("USER#r0", "CONN#c"), "ReAuthStatus": s("NEEDS_REAUTH")})
    got = ddb.query(TableName=table, IndexName=REAUTH_GSI, KeyConditionExpression="ReAuthStatus = :r",
                    ExpressionAttributeValues={":r": s("NEEDS_REAUTH")})
    assert [i["PK"]["S"] for i in got["Items"]] == ["USER#r0", "USER#r1"]
    ddb.update_item(TableName=table, Key=key("USER#r1", "CONN#a"), UpdateExpression="REMOVE ReAuthStatus")
    got = ddb.query(TableName=table, IndexName=REAUTH_GSI, KeyConditionExpression="ReAuthStatus = :r",
                    ExpressionAttributeValues={":r": s("NEEDS_REAUTH")})
    assert [i["PK"]["S"] for i in got["Items"]] == ["USER#r0"]


def test_transact_write_items_is_all_or_nothing(ddb, table):
    ddb.put_item(TableName=table, Item={**key("USER#t", "PROFILE"), "version": n(1)})
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {**key("USER#t", "CONN#new"), "status": s("active")}}},
            {"Update": {"TableName": table, "Key": key("USER#t", "PROFILE"), "UpdateExpression": "SET version = :v",
                        "ConditionExpression": "version = :expected",
                        "ExpressionAttributeValues": {":v": n(3), ":expected": n(2)}}}])
    assert error_code(cancelled.value) == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=table, Key=key("USER#t", "CONN#new"))
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {**key("USER#t", "CONN#new"), "status": s("active")},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Update": {"TableName": table, "Key": key("USER#t", "PROFILE"), "UpdateExpression": "SET version = :v",
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": {":v": n(2), ":expected": n(1)}}},
        {"Delete": {"TableName": table, "Key": key("USER#t", "GONE")}}])
    assert ddb.get_item(TableName=table, Key=key("USER#t", "PROFILE"))["Item"]["version"] == n(2)
    assert ddb.get_item(TableName=table, Key=key("USER#t", "CONN#new"))["Item"]["status"] == s("active")


def test_the_item_size_limit_holds_for_every_way_an_item_is_written(ddb, table):
    """moto's limit (405,000 bytes of names and values) applies to PutItem, BatchWriteItem, TransactWriteItems
    and an UpdateItem that grows an item (the speedup checks a new item's size once instead of per attribute)."""
    def item(sk: str, payload_bytes: int) -> dict:
        return {**key("USER#big", sk), "payload": s("x" * payload_bytes), "n": n(1),
                "nested": {"M": {"a": {"L": [s("y" * 50), n(2)]}}}}
    overhead = len("PKUSER#bigSK" + "a" + "payload" + "n1" + "nested" + "a" + "y" * 50 + "2")
    fits, too_big = item("a", 405000 - overhead), item("a", 405001 - overhead)
    ddb.put_item(TableName=table, Item=fits)
    for write in (lambda: ddb.put_item(TableName=table, Item=too_big),
                  lambda: ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": too_big}}]}),
                  lambda: ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": too_big}}]),
                  lambda: ddb.update_item(TableName=table, Key=key("USER#big", "a"), UpdateExpression="SET extra = :e",
                                          ExpressionAttributeValues={":e": s("zz")})):
        with pytest.raises(ClientError) as refused:
            write()
        assert error_code(refused.value) in ("ValidationException", "TransactionCanceledException")
    stored = ddb.get_item(TableName=table, Key=key("USER#big", "a"), ConsistentRead=True)["Item"]
    assert stored == fits                      # every refused write left the item as it was


def test_ttl_is_configured_and_expired_items_are_kept_and_readable(ddb, table):
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["AttributeName"] == "ttl"
    ddb.put_item(TableName=table, Item={**key("IDEM##old", "IDEM##old"), "ttl": n(1), "status": s("COMPLETED")})
    item = ddb.get_item(TableName=table, Key=key("IDEM##old", "IDEM##old"))["Item"]
    assert item["ttl"] == n(1)


def test_scan_with_filter_and_pagination_visits_every_item_once(ddb, table):
    for i in range(9):
        ddb.put_item(TableName=table, Item={**key(f"USER#s{i}", "PROFILE"), "score": n(i)})
    seen, kwargs = [], {"TableName": table, "Limit": 4, "FilterExpression": "score >= :min",
                        "ExpressionAttributeValues": {":min": n(3)}}
    while True:
        page = ddb.scan(**kwargs)
        seen += [int(i["score"]["N"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert sorted(seen) == list(range(3, 9)) and len(seen) == len(set(seen))


def test_binary_numbers_and_nested_values_round_trip(ddb, table):
    item = {**key("USER#bin", "BLOB"), "raw": {"B": b"\x00\xffpayload"}, "set": {"BS": [b"a", b"b"]},
            "deep": {"M": {"list": {"L": [n(1), {"M": {"x": {"NULL": True}}}]}, "ns": {"NS": ["1.5", "2"]}}},
            "big": {"N": "12345678901234567890.5"}, "empty": s("")}
    ddb.put_item(TableName=table, Item=item)
    got = ddb.get_item(TableName=table, Key=key("USER#bin", "BLOB"))["Item"]
    assert got["raw"] == {"B": b"\x00\xffpayload"} and sorted(got["set"]["BS"]) == [b"a", b"b"]
    assert got["deep"]["M"]["list"]["L"][1] == {"M": {"x": {"NULL": True}}}
    assert sorted(Decimal(v) for v in got["deep"]["M"]["ns"]["NS"]) == [Decimal("1.5"), Decimal("2")]
    assert got["big"] == {"N": "12345678901234567890.5"} and got["empty"] == s("")
    queried = ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                        ExpressionAttributeValues={":pk": s("USER#bin")})
    assert queried["Items"][0]["raw"] == {"B": b"\x00\xffpayload"}


# ---- the speedup's HTTP server (stock moto is served by werkzeug: these check the lean server's framing) -------
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, "
        "Signature=0")


def raw_exchange(url: str, *payloads: bytes) -> tuple[list[http.client.HTTPResponse], socket.socket]:
    """Each payload sent on one connection after the previous response was read (``begin`` skips a 100)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    got = []
    for payload in payloads:
        sock.sendall(payload)
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.body = response.read()  # type: ignore[attr-defined]
        got.append(response)
    return got, sock


def dynamodb_request(target: str, body: bytes, extra: str = "", version: str = "HTTP/1.1",
                     chunked: bool = False) -> bytes:
    head = (f"POST / {version}\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.{target}\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nAuthorization: {AUTH}\r\n{extra}")
    if chunked:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:])) + b"0\r\n\r\n"
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + framed
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.mark.parametrize("ddb_variant", ["speedup"], indirect=True)  # stock moto is served by werkzeug
def test_the_lean_server_keeps_connections_alive_and_reads_chunked_and_expect_continue_bodies(ddb_variant, table):
    _, ddb = ddb_variant
    url = ddb.meta.endpoint_url
    ddb.put_item(TableName=table, Item={**key("USER#raw", "PROFILE"), "v": n(7)})
    get = json.dumps({"TableName": table, "Key": key("USER#raw", "PROFILE")}).encode()
    responses, sock = raw_exchange(url, dynamodb_request("GetItem", get), dynamodb_request("GetItem", get),
                                   dynamodb_request("GetItem", get, "Expect: 100-continue\r\n", chunked=True))
    sock.close()
    assert [r.status for r in responses] == [200, 200, 200]
    assert all(json.loads(r.body)["Item"]["v"] == n(7) for r in responses)
    assert all(r.getheader("Connection") == "keep-alive" for r in responses)
    (old,), sock = raw_exchange(url, dynamodb_request("GetItem", get, version="HTTP/1.0"))
    assert old.status == 200 and old.getheader("Connection") == "close"
    assert sock.recv(1) == b""  # the server closed the HTTP/1.0 connection
    sock.close()
    (health,), sock = raw_exchange(url, b"GET /_health HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.close()
    assert health.status == 200 and json.loads(health.body)["service"] == "dynamodb"
    (listed,), sock = raw_exchange(url, dynamodb_request("ListTables", b"{}"))
    sock.close()
    assert table in json.loads(listed.body)["TableNames"]  # control plane: moto's Flask app behind the same server
