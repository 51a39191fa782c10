"""The worker's botocore-free AWS client (stack/awswire/client.py): SigV4, and every operation it sends itself
round-tripped against a moto server over HTTP, compared with what boto3 returns for the same request."""
from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import socket
import threading
import time
from typing import Any, Iterator

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import (BotoCoreError, ClientError, ConnectionClosedError, EndpointConnectionError,
                                 ReadTimeoutError)
from moto.server import ThreadedMotoServer

from stack.config import StackConfig
from stack.worker.aws import CLIENT_SWITCH, hot_path_client
from stack.awswire.client import OPERATIONS, WireClient
from stack.awswire.sigv4 import Credentials, SigV4Signer, signing_key

EXAMPLE_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TABLE_KEYS = {"KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
              "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"},
                                       {"AttributeName": "SK", "AttributeType": "S"}],
              "BillingMode": "PAY_PER_REQUEST"}


# --- SigV4 ------------------------------------------------------------------------------------------------------

def test_signing_key_matches_aws_published_example() -> None:
    # "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference)
    assert signing_key(EXAMPLE_KEY, "20120215", "us-east-1", "iam").hex() == \
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signature_matches_aws_published_example() -> None:
    # The IAM ListUsers example of the SigV4 documentation (GET with a query string, 2015-08-30T12:36:00Z).
    authorization = SigV4Signer("us-east-1", "iam").authorization(
        Credentials("AKIDEXAMPLE", EXAMPLE_KEY), "20150830T123600Z", "GET", "/",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": "iam.amazonaws.com",
         "X-Amz-Date": "20150830T123600Z"}, EMPTY_SHA256, {"Action": "ListUsers", "Version": "2010-05-08"})
    assert authorization == ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                             "SignedHeaders=content-type;host;x-amz-date, "
                             "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


def test_signature_matches_botocore_for_a_json_post_with_session_token(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"TableName": "t", "Key": {"PK": {"S": "a"}}}'
    amz_date = "20260102T030405Z"
    headers = {"host": "dynamodb.eu-west-1.amazonaws.com", "x-amz-date": amz_date,
               "x-amz-target": "DynamoDB_20120810.GetItem", "content-type": "application/x-amz-json-1.0",
               "x-amz-security-token": "session-token"}
    ours = SigV4Signer("eu-west-1", "dynamodb").authorization(
        Credentials("AKID", "secret", "session-token"), amz_date, "POST", "/", headers, hashlib.sha256(body).hexdigest())
    request = AWSRequest(method="POST", url="https://dynamodb.eu-west-1.amazonaws.com/", data=body,
                         headers={k: v for k, v in headers.items() if k not in ("x-amz-date", "x-amz-security-token")})
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: dt.datetime(2026, 1, 2, 3, 4, 5))
    SigV4Auth(BotoCredentials("AKID", "secret", "session-token"), "dynamodb", "eu-west-1").add_auth(request)
    assert request.headers["Authorization"] == ours


def test_signing_key_is_cached_per_day() -> None:
    signer = SigV4Signer("us-east-1", "sqs")
    creds = Credentials("AKID", "secret")
    headers = {"host": "h", "x-amz-date": "20260101T000000Z"}
    first = signer.authorization(creds, "20260101T000000Z", "POST", "/", headers, EMPTY_SHA256)
    key = signer._cached
    assert signer.authorization(creds, "20260101T000000Z", "POST", "/", headers, EMPTY_SHA256) == first
    assert signer._cached is key
    signer.authorization(creds, "20260102T000000Z", "POST", "/", {**headers, "x-amz-date": "20260102T000000Z"},
                         EMPTY_SHA256)
    assert signer._cached is not key and signer._cached[0] == "20260102"


# --- against moto -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def boto(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2))


def wire(service: str, url: str, **kwargs: Any) -> WireClient:
    fallback = boto(service, url)
    options = {"pool": 4, "connect_timeout": 2, "read_timeout": 10, "max_attempts": 2, **kwargs}
    return WireClient(fallback, credentials=fallback._get_credentials(), **options)


def same(boto_response: dict[str, Any], wire_response: dict[str, Any], *, ignore: tuple[str, ...] = (),
         rename: dict[str, str] | None = None) -> None:
    """Equal apart from per-request metadata (request id, date header), the named volatile keys and the twin
    resources' names (``rename``: the wire client's resource name -> boto3's)."""
    names = rename or {}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {names.get(k, k): strip(v) for k, v in value.items() if k not in ("ResponseMetadata",) + ignore}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value
    assert strip(wire_response) == strip(boto_response)
    assert wire_response["ResponseMetadata"]["HTTPStatusCode"] == boto_response["ResponseMetadata"]["HTTPStatusCode"]
    assert set(wire_response["ResponseMetadata"]) >= {"RequestId", "HTTPStatusCode", "HTTPHeaders", "RetryAttempts"}


@pytest.fixture
def tables(moto_url: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    """Two identical tables: boto3 drives one, the wire client the other, so write responses can be compared."""
    client = boto("dynamodb", moto_url)
    names = (f"b-{request.node.name}"[:200], f"w-{request.node.name}"[:200])
    for name in names:
        client.create_table(TableName=name, **TABLE_KEYS)
    return names


def item(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}, **extra}


RICH = {"n": {"N": "42.5"}, "bin": {"B": b"\x00\xffbytes"}, "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"nested": {"L": [{"S": "x"}, {"B": b"\x07"}, {"NULL": True}]}}}, "ss": {"SS": ["a", "b"]},
        "flag": {"BOOL": True}}


def test_dynamodb_operations_match_boto3(moto_url: str, tables: tuple[str, str]) -> None:
    b, w = boto("dynamodb", moto_url), wire("dynamodb", moto_url)
    tb, tw = tables

    def both(op: str, compare: bool = True, **params: Any) -> tuple[dict, dict]:
        rb = getattr(b, op)(**_with_table(params, tb))
        rw = getattr(w, op)(**_with_table(params, tw))
        if compare:
            same(rb, rw, rename={tw: tb})
        return rb, rw

    both("put_item", TableName="__TABLE__", Item=item("u1", "a", **RICH))
    both("put_item", TableName="__TABLE__", Item=item("u1", "a", **RICH, extra={"S": "v2"}), ReturnValues="ALL_OLD")
    both("get_item", TableName="__TABLE__", Key=item("u1", "a"), ConsistentRead=True)
    both("get_item", TableName="__TABLE__", Key=item("u1", "missing"))
    both("update_item", TableName="__TABLE__", Key=item("u1", "a"), UpdateExpression="SET #c = :c, n = n + :one",
         ExpressionAttributeNames={"#c": "count"},
         ExpressionAttributeValues={":c": {"N": "1"}, ":one": {"N": "1"}}, ReturnValues="ALL_OLD")
    both("batch_write_item", RequestItems={"__TABLE__": [
        {"PutRequest": {"Item": item("u1", f"s{i}", v={"N": str(i)}, b={"B": bytes([i])})}} for i in range(5)]})
    rb, rw = both("batch_get_item", compare=False, RequestItems={"__TABLE__": {
        "Keys": [item("u1", f"s{i}") for i in range(5)] + [item("u1", "a"), item("nobody", "x")], "ConsistentRead": True}})
    sort = lambda r, t: sorted(r["Responses"][t], key=lambda i: i["SK"]["S"])  # noqa: E731 (order is not specified)
    assert sort(rw, tw) == sort(rb, tb) and len(sort(rw, tw)) == 6 and rw.get("UnprocessedKeys") == {}
    both("query", TableName="__TABLE__", KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
         ExpressionAttributeValues={":p": {"S": "u1"}, ":s": {"S": "s"}}, Limit=3)
    both("delete_item", TableName="__TABLE__", Key=item("u1", "s0"), ReturnValues="ALL_OLD")
    assert "Item" not in w.get_item(TableName=tw, Key=item("u1", "s0"))


def _with_table(params: dict[str, Any], table: str) -> dict[str, Any]:
    out = dict(params)
    if out.get("TableName") == "__TABLE__":
        out["TableName"] = table
    if "RequestItems" in out:
        out["RequestItems"] = {table if k == "__TABLE__" else k: v for k, v in out["RequestItems"].items()}
    return out


def test_conditional_failure_is_the_same_client_error(moto_url: str, tables: tuple[str, str]) -> None:
    b, w = boto("dynamodb", moto_url), wire("dynamodb", moto_url)
    errors = []
    for client, table in ((b, tables[0]), (w, tables[1])):
        client.put_item(TableName=table, Item=item("u", "lock", status={"S": "INPROGRESS"}, raw={"B": b"\x01"}))
        with pytest.raises(ClientError) as caught:
            client.update_item(TableName=table, Key=item("u", "lock"), UpdateExpression="SET #s = :s",
                               ConditionExpression="#s <> :busy", ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":s": {"S": "X"}, ":busy": {"S": "INPROGRESS"}},
                               ReturnValuesOnConditionCheckFailure="ALL_OLD")
        errors.append(caught.value)
    boto_error, wire_error = errors
    assert type(wire_error) is type(boto_error)   # the modeled subclass: client.exceptions.ConditionalCheckFailedException
    assert isinstance(wire_error, w.exceptions.ConditionalCheckFailedException)
    assert wire_error.response["Error"] == boto_error.response["Error"]
    assert wire_error.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert wire_error.response["Item"] == boto_error.response["Item"] == item("u", "lock", status={"S": "INPROGRESS"},
                                                                             raw={"B": b"\x01"})
    assert str(wire_error) == str(boto_error)
    assert wire_error.operation_name == "UpdateItem"


def test_missing_table_and_queue_raise_the_same_codes(moto_url: str) -> None:
    for service, call in (("dynamodb", lambda c: c.get_item(TableName="no-such-table", Key=item("a", "b"))),
                          ("sqs", lambda c: c.get_queue_url(QueueName="no-such-queue")),
                          ("sqs", lambda c: c.send_message(QueueUrl=f"{moto_url}/123456789012/no-such-queue",
                                                           MessageBody="x"))):
        caught = []
        for client in (boto(service, moto_url), wire(service, moto_url)):
            with pytest.raises(ClientError) as error:
                call(client)
            caught.append(error.value)
        assert type(caught[1]) is type(caught[0])
        assert caught[1].response["Error"] == caught[0].response["Error"]
        assert caught[1].response["Error"]["Code"] in ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue")


def test_sqs_operations_match_boto3(moto_url: str, request: pytest.FixtureRequest) -> None:
    b, w = boto("sqs", moto_url), wire("sqs", moto_url)
    name = f"wire-{request.node.name}"[:70]
    url = b.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    same(b.get_queue_url(QueueName=name), w.get_queue_url(QueueName=name))
    attributes = {"correlationId": {"DataType": "String", "StringValue": "c-1"},
                  "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe"},
                  "n": {"DataType": "Number", "StringValue": "3"}}
    sent = w.send_message(QueueUrl=url, MessageBody='{"job": 1}', MessageAttributes=attributes)
    reference = b.send_message(QueueUrl=url, MessageBody='{"job": 1}', MessageAttributes=attributes)
    same(reference, sent, ignore=("MessageId",))
    batch = w.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"m{i}", "DelaySeconds": 0, "MessageAttributes": attributes} for i in range(3)])
    assert sorted(s["Id"] for s in batch["Successful"]) == ["0", "1", "2"] and not batch.get("Failed")
    received = w.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30,
                                 AttributeNames=["ApproximateReceiveCount"], MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in received) == sorted(['{"job": 1}', '{"job": 1}', "m0", "m1", "m2"])
    for message in received:
        assert message["MessageAttributes"] == {k: {kk: vv for kk, vv in v.items()} for k, v in attributes.items()}
        assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xfe"   # bytes, like boto3
        assert message["Attributes"] == {"ApproximateReceiveCount": "1"}
        assert message["MD5OfBody"] == hashlib.md5(message["Body"].encode()).hexdigest()
    first, second, *rest = received
    changed = w.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "0", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0}])
    assert [s["Id"] for s in changed["Successful"]] == ["0"] and [f["Id"] for f in changed["Failed"]] == ["bad"]
    w.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    again = w.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
    assert sorted(m["MessageId"] for m in again["Messages"]) == sorted([first["MessageId"], second["MessageId"]])
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again["Messages"]} == {"2"}
    deleted = w.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(again["Messages"] + rest[:-1])])
    assert len(deleted["Successful"]) == 4 and not deleted.get("Failed")
    w.delete_message(QueueUrl=url, ReceiptHandle=rest[-1]["ReceiptHandle"])
    counts = w.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                  "ApproximateNumberOfMessagesNotVisible"])
    same(b.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                              "ApproximateNumberOfMessagesNotVisible"]), counts)
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    empty = w.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    same(b.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0), empty)


def test_secrets_and_events_operations_match_boto3(moto_url: str, request: pytest.FixtureRequest) -> None:
    b_sm, w_sm = boto("secretsmanager", moto_url), wire("secretsmanager", moto_url)
    names = [f"wire/{request.node.name}/{i}" for i in range(3)]
    for name in names:
        b_sm.create_secret(Name=name, SecretString=json.dumps({"token": name}))
    got = w_sm.get_secret_value(SecretId=names[0])
    same(b_sm.get_secret_value(SecretId=names[0]), got)
    assert isinstance(got["CreatedDate"], dt.datetime) and got["CreatedDate"].tzinfo is not None
    put = w_sm.put_secret_value(SecretId=names[0], SecretString=json.dumps({"token": "rotated"}))  # token filled in
    assert put["VersionId"] and json.loads(b_sm.get_secret_value(SecretId=names[0])["SecretString"]) == {"token": "rotated"}
    batch = w_sm.batch_get_secret_value(SecretIdList=names)
    same(b_sm.batch_get_secret_value(SecretIdList=names), batch)
    assert sorted(s["Name"] for s in batch["SecretValues"]) == sorted(names)
    with pytest.raises(ClientError) as missing:
        w_sm.get_secret_value(SecretId="wire/none")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    b_ev, w_ev = boto("events", moto_url), wire("events", moto_url)
    bus = f"wire-{request.node.name}"[:200]
    b_ev.create_event_bus(Name=bus)
    entries = [{"Source": "syncwell.worker", "DetailType": "SyncSucceeded", "Detail": json.dumps({"i": i}),
                "EventBusName": bus, "Time": dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)} for i in range(3)]
    published = w_ev.put_events(Entries=entries)
    same(b_ev.put_events(Entries=entries), published, ignore=("EventId",))
    assert published["FailedEntryCount"] == 0 and len(published["Entries"]) == 3


def test_operations_not_sent_directly_fall_back_to_boto3(moto_url: str) -> None:
    w = wire("dynamodb", moto_url)
    assert "get_item" in w.operations and "describe_table" not in w.operations
    w.create_table(TableName="wire-fallback", **TABLE_KEYS)              # boto3's method, through __getattr__
    assert w.describe_table(TableName="wire-fallback")["Table"]["TableName"] == "wire-fallback"
    assert w.meta.service_model.service_name == "dynamodb" and w.exceptions.ResourceNotFoundException
    assert w.can_paginate("query")
    assert {op for ops in OPERATIONS.values() for op in ops} >= {
        "ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch", "SendMessageBatch", "UpdateItem",
        "PutItem", "BatchGetItem", "BatchWriteItem", "GetSecretValue", "BatchGetSecretValue", "PutSecretValue",
        "PutEvents"}


def test_hot_path_client_uses_the_environment_and_the_switch(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = StackConfig(table_name="t", region="us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")       # the per-service variable wins, as in boto3
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_url)
    monkeypatch.delenv(CLIENT_SWITCH, raising=False)
    sqs = hot_path_client("sqs", config, pool=4)
    assert isinstance(sqs, WireClient) and sqs.meta.endpoint_url == moto_url
    url = sqs.create_queue(QueueName="wire-env")["QueueUrl"]
    assert sqs.get_queue_url(QueueName="wire-env")["QueueUrl"] == url
    assert not isinstance(hot_path_client("s3", config, pool=4), WireClient)     # REST protocol: boto3
    monkeypatch.setenv(CLIENT_SWITCH, "boto3")
    plain = hot_path_client("sqs", config, pool=4)
    assert not isinstance(plain, WireClient) and plain.get_queue_url(QueueName="wire-env")["QueueUrl"] == url
    monkeypatch.setenv(CLIENT_SWITCH, "curl")
    with pytest.raises(ValueError, match=CLIENT_SWITCH):
        hot_path_client("sqs", config, pool=4)


# --- transport failures and retries -----------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_the_transient_botocore_error(moto_url: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    sleeps: list[float] = []
    w = wire("sqs", url, sleep=sleeps.append)
    with pytest.raises(EndpointConnectionError) as caught:
        w.receive_message(QueueUrl=f"{url}/123456789012/q", MaxNumberOfMessages=10)
    assert isinstance(caught.value, BotoCoreError)           # what service.py / processor.py treat as transient
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1          # max_attempts 2: one retry, botocore's first delay
    with pytest.raises(EndpointConnectionError):
        boto("sqs", url).receive_message(QueueUrl=f"{url}/123456789012/q", MaxNumberOfMessages=10)


class ScriptedAWS(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive; answers each POST with the next scripted (status, body, headers[, how]); records the
    requests and the client ports (one per connection). ``how``: "chunked" body, "drop" (close after answering,
    without saying so), "hang" (never answer), "discard" (close without answering)."""
    protocol_version = "HTTP/1.1"
    script: list[tuple] = []
    seen: list[dict[str, str]] = []
    ports: set[int] = set()
    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        cls = type(self)
        cls.seen.append({k.lower(): v for k, v in self.headers.items()})
        cls.ports.add(self.client_address[1])
        status, body, headers, *how = cls.script.pop(0)
        if how == ["hang"]:
            cls.release.wait(30)
            self.close_connection = True
            return
        if how == ["discard"]:          # close without answering: a keep-alive timeout racing the request
            self.close_connection = True
            return
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "req-1", **headers}.items():
            self.send_header(name, value)
        if how == ["chunked"]:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(raw), 7):
                piece = raw[start:start + 7]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        if how == ["drop"]:
            self.close_connection = True

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[ScriptedAWS]]]:
    handler = type("Handler", (ScriptedAWS,), {"script": [], "seen": [], "ports": set(), "release": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


def test_connections_are_kept_alive_and_chunked_bodies_read(scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    handler.script = [(200, {"Item": {"PK": {"S": str(i)}}}, {}, "chunked" if i % 2 else "") for i in range(4)]
    w = wire("dynamodb", url)
    assert [w.get_item(TableName="t", Key={})["Item"]["PK"]["S"] for _ in range(4)] == ["0", "1", "2", "3"]
    assert len(handler.ports) == 1                             # one connection for all four calls


def test_a_connection_the_server_dropped_is_not_reused(scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    handler.script = [(200, {"n": 1}, {}, "drop"), (200, {"n": 2}, {})]
    w = wire("events", url, max_attempts=1)                    # no retry: a reuse of the dead connection would raise
    assert w.put_events(Entries=[])["n"] == 1
    idle = w._transport._idle
    deadline = time.monotonic() + 10
    while not (idle and idle[0].dropped()) and time.monotonic() < deadline:   # the server's close has landed
        time.sleep(0.01)
    assert w.put_events(Entries=[])["n"] == 2
    assert len(handler.seen) == 2 and len(handler.ports) == 2


def test_a_pooled_connection_closed_as_it_is_reused_is_replaced_at_once(
        scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    handler.script = [(200, {"n": 1}, {}), (0, {}, {}, "discard"), (200, {"n": 2}, {})]
    w = wire("events", url, max_attempts=1)                    # not the retry policy: the transport itself
    assert w.put_events(Entries=[])["n"] == 1
    assert w.put_events(Entries=[])["n"] == 2
    assert len(handler.seen) == 3 and len(handler.ports) == 2


def test_a_new_connection_closed_without_an_answer_is_connection_closed(
        scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    handler.script = [(0, {}, {}, "discard")]
    with pytest.raises(ConnectionClosedError):
        wire("events", url, max_attempts=1).put_events(Entries=[])


def test_read_timeout_is_botocores_after_one_retry(scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    handler.script = [(200, {}, {}, "hang"), (200, {}, {}, "hang")]
    w = wire("sqs", url, sleep=lambda _s: None, read_timeout=0.3)
    with pytest.raises(ReadTimeoutError):
        w.delete_message_batch(QueueUrl=f"{url}/1/q", Entries=[])
    assert len(handler.seen) == 2


def test_throttling_is_retried_once_then_raised(scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    throttled = (400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                       "message": "slow down"}, {})
    handler.script = [throttled, (200, {"Item": {"PK": {"S": "a"}}}, {})]
    sleeps: list[float] = []
    w = wire("dynamodb", url, sleep=sleeps.append)
    response = w.get_item(TableName="t", Key={"PK": {"S": "a"}})
    assert response["Item"] == {"PK": {"S": "a"}} and response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(sleeps) == 1
    handler.script = [throttled, throttled]
    with pytest.raises(ClientError) as caught:
        w.get_item(TableName="t", Key={"PK": {"S": "a"}})
    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert isinstance(caught.value, w.exceptions.ProvisionedThroughputExceededException)
    assert len(handler.seen) == 4
    seen = handler.seen[0]
    assert seen["x-amz-target"] == "DynamoDB_20120810.GetItem" and seen["content-type"] == "application/x-amz-json-1.0"
    assert seen["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/dynamodb/aws4_request" in seen["authorization"]


def test_validation_errors_are_not_retried_and_crc32_mismatch_is(scripted: tuple[str, type[ScriptedAWS]]) -> None:
    url, handler = scripted
    handler.script = [(400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"}, {})]
    w = wire("dynamodb", url, sleep=lambda _s: None)
    with pytest.raises(ClientError) as caught:
        w.get_item(TableName="t", Key={})
    assert caught.value.response["Error"] == {"Message": "bad", "Code": "ValidationException"}
    handler.script = [(200, {"Item": {"PK": {"S": "corrupt"}}}, {"x-amz-crc32": "1"}),
                      (200, {"Item": {"PK": {"S": "ok"}}}, {})]
    assert w.get_item(TableName="t", Key={})["Item"] == {"PK": {"S": "ok"}}
    assert len(handler.seen) == 3
