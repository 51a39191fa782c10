"""Last-writer-wins as DynamoDB global tables resolve concurrent writes (stack.region.lww)."""
from stack.region.capture import written_keys
from stack.region.lww import LwwLedger, Version

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
