"""AWS faults through the real chaos proxy in front of real moto servers, driven by boto3 over HTTP."""
from __future__ import annotations

import time
from typing import Any, Iterator

import botocore.exceptions
import httpx
import pytest

from stack.faults import FaultContext, build_fault
from stack.faults.aws_client import AwsChaosClient
from tests.faults.conftest import client
from tests.faults.procs import Child

TABLE = "FaultsTable"


@pytest.fixture(scope="module")
def ctx(aws_proxy: Child) -> FaultContext:
    return FaultContext(aws_chaos_url=aws_proxy.url, seed=11)


@pytest.fixture(scope="module")
def ddb_url(aws_proxy: Child) -> str:
    url = str(aws_proxy.ready["listeners"]["dynamodb"])
    ddb = client("dynamodb", url)
    ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    return url


@pytest.fixture(autouse=True)
def clean_rules(aws_proxy: Child) -> Iterator[None]:
    yield
    chaos = AwsChaosClient(aws_proxy.url)
    chaos.set_rules([])
    chaos.set_effects({"latency": 0})


def put(ddb: Any, key: str) -> None:
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}})


def calls(aws_proxy: Child, key: str) -> tuple[int, int]:
    counters = AwsChaosClient(aws_proxy.url).counters()
    return counters["calls"].get(key, 0), counters["injected"].get(key, 0)


def test_aws_error_makes_boto3_raise_the_real_exception_after_its_retries(ctx, ddb_url, aws_proxy) -> None:
    ddb = client("dynamodb", ddb_url, max_attempts=2)
    rollback = build_fault({"name": "ddb-throttle", "type": "aws_error",
                            "target": {"service": "dynamodb", "operation": "PutItem"}}).apply(ctx)
    before = calls(aws_proxy, "dynamodb.PutItem")
    with pytest.raises(ddb.exceptions.ProvisionedThroughputExceededException):
        put(ddb, "a")
    after = calls(aws_proxy, "dynamodb.PutItem")
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)  # 1 call + 2 retries, each refused
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})          # other operations are untouched
    rollback()
    rollback()  # idempotent
    put(ddb, "a")
    assert AwsChaosClient(aws_proxy.url).get_rules() == []


def test_probability_zero_never_fires(ctx, ddb_url, aws_proxy) -> None:
    ddb = client("dynamodb", ddb_url, max_attempts=0)
    rollback = build_fault({"name": "never", "type": "aws_error", "probability": 0.0,
                            "target": {"service": "dynamodb"}}).apply(ctx)
    for i in range(30):
        put(ddb, f"p0-{i}")
    rollback()
    stats = AwsChaosClient(aws_proxy.url).counters()["rules"]
    assert stats == []


def fire_pattern(ctx: FaultContext, ddb: Any, aws_proxy: Child) -> list[bool]:
    rollback = build_fault({"name": "half", "type": "aws_error", "probability": 0.5, "seed": 42,
                            "target": {"service": "dynamodb", "operation": "PutItem"},
                            "attributes": {"status_code": 500, "code": "InternalServerError"}}).apply(ctx)
    pattern = []
    for i in range(40):
        try:
            put(ddb, f"half-{i}")
            pattern.append(False)
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "InternalServerError"
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            pattern.append(True)
    rollback()
    return pattern


def test_probability_with_a_seed_fires_the_same_calls_each_run(ctx, ddb_url, aws_proxy) -> None:
    ddb = client("dynamodb", ddb_url, max_attempts=0)
    first = fire_pattern(ctx, ddb, aws_proxy)
    second = fire_pattern(ctx, ddb, aws_proxy)
    assert first == second
    assert 8 <= sum(first) <= 32


def timed_get(ddb: Any) -> float:
    started = time.perf_counter()
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "lat"}})
    return time.perf_counter() - started


def test_aws_latency_adds_the_latency_and_its_rollback_removes_it(ctx, ddb_url) -> None:
    ddb = client("dynamodb", ddb_url)
    base = min(timed_get(ddb) for _ in range(3))
    rollback = build_fault({"name": "slow-ddb", "type": "aws_latency", "target": {"service": "dynamodb"},
                            "attributes": {"latency_ms": 300}}).apply(ctx)
    slow = min(timed_get(ddb) for _ in range(3))
    rollback()
    assert slow >= 0.3 and slow - base >= 0.25
    assert min(timed_get(ddb) for _ in range(3)) < 0.3


def test_global_latency_goes_through_the_chaos_effects_endpoint(ctx, ddb_url, aws_proxy) -> None:
    ddb = client("dynamodb", ddb_url)
    rollback = build_fault({"name": "slow-all", "type": "aws_latency", "attributes": {"latency_ms": 250}}).apply(ctx)
    assert AwsChaosClient(aws_proxy.url).get_effects()["latency"] == 250
    assert timed_get(ddb) >= 0.25
    rollback()
    assert AwsChaosClient(aws_proxy.url).get_effects()["latency"] == 0


def test_localstack_chaos_api_accepts_and_lists_rules_in_its_format(aws_proxy, ddb_url) -> None:
    base = aws_proxy.url + "/_localstack/chaos"
    rule_a = {"service": "dynamodb", "region": "us-east-1", "operation": "PutItem", "probability": 1,
              "error": {"statusCode": 400, "code": "ThrottlingException"}}
    rule_b = {"service": "sqs", "operation": "SendMessage", "probability": 0.2}
    assert httpx.post(f"{base}/faults", json=[rule_a]).json() == [rule_a]
    assert httpx.patch(f"{base}/faults", json=[rule_b]).json() == [rule_a, rule_b]
    assert httpx.get(f"{base}/faults").json() == [rule_a, rule_b]
    with pytest.raises(client("dynamodb", ddb_url, max_attempts=1).exceptions.ClientError) as info:
        put(client("dynamodb", ddb_url, max_attempts=1), "ls")
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert httpx.request("DELETE", f"{base}/faults", json=[rule_a]).json() == [rule_b]
    assert httpx.post(f"{base}/effects", json={"latency": 5}).json() == {"latency": 5}
    assert httpx.get(f"{base}/effects").json() == {"latency": 5}
    # the Chaos API also answers on every service listener, as on LocalStack's single port
    listener = str(aws_proxy.ready["listeners"]["sqs"])
    assert httpx.get(f"{listener}/_localstack/chaos/faults").json() == [rule_b]
    bad = httpx.post(f"{base}/faults", json=[{"service": "dynamodb", "probability": 3}])
    assert bad.status_code == 400 and "'probability' must be a number from 0 to 1" in bad.json()["error"]
    assert httpx.post(f"{base}/faults", json={"service": "sqs"}).status_code == 400


def test_sqs_and_secrets_manager_errors_are_in_their_wire_format(ctx, aws_proxy) -> None:
    sqs = client("sqs", str(aws_proxy.ready["listeners"]["sqs"]), max_attempts=1)
    queue = sqs.create_queue(QueueName="faults-q")["QueueUrl"]
    secrets = client("secretsmanager", str(aws_proxy.ready["listeners"]["secretsmanager"]), max_attempts=1)
    secrets.create_secret(Name="faults-secret", SecretString="{}")
    rollbacks = [build_fault({"name": "sqs-throttle", "type": "aws_error",
                              "target": {"service": "sqs", "operation": "SendMessage"}}).apply(ctx),
                 build_fault({"name": "sm-down", "type": "aws_error",
                              "target": {"service": "secretsmanager"}}).apply(ctx)]
    with pytest.raises(botocore.exceptions.ClientError) as sqs_error:
        sqs.send_message(QueueUrl=queue, MessageBody="x")
    assert sqs_error.value.response["Error"]["Code"] == "ThrottlingException"
    assert "reached max retries: 1" in str(sqs_error.value)
    with pytest.raises(secrets.exceptions.InternalServiceError):
        secrets.get_secret_value(SecretId="faults-secret")
    for rollback in rollbacks:
        rollback()
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    assert secrets.get_secret_value(SecretId="faults-secret")["SecretString"] == "{}"


def test_aws_outage_refuses_connections_until_rolled_back(ctx, ddb_url) -> None:
    ddb = client("dynamodb", ddb_url, max_attempts=0)
    rollback = build_fault({"name": "ddb-down", "type": "aws_outage", "target": {"service": "dynamodb"}}).apply(ctx)
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        timed_get(ddb)
    rollback()
    timed_get(ddb)


def test_aws_outage_error_mode_answers_503(ctx, ddb_url) -> None:
    ddb = client("dynamodb", ddb_url, max_attempts=0)
    rollback = build_fault({"name": "ddb-503", "type": "aws_outage", "target": {"service": "dynamodb"},
                            "attributes": {"mode": "error"}}).apply(ctx)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        timed_get(ddb)
    rollback()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    timed_get(ddb)


def test_the_edge_listener_routes_by_signing_scope(aws_proxy, ddb_url) -> None:
    edge = client("dynamodb", aws_proxy.url)
    assert TABLE in edge.list_tables()["TableNames"]


def test_a_localstack_rule_without_an_error_answers_503_service_unavailable(aws_proxy, ddb_url) -> None:
    rule = {"service": "dynamodb", "operation": "GetItem"}
    httpx.post(aws_proxy.url + "/_localstack/chaos/faults", json=[rule]).raise_for_status()
    with pytest.raises(botocore.exceptions.ClientError) as info:
        timed_get(client("dynamodb", ddb_url, max_attempts=0))
    assert info.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
