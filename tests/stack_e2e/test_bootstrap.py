"""The bootstrap against moto over HTTP: every resource, declared attributes, idempotent, CLI contract."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stack import aws_clients, schema
from stack.bootstrap import create_resources
from stack.config import StackConfig

MOTO = {"moto-sqs", "moto-dynamodb", "moto-secretsmanager", "moto-s3", "moto-events"}
SYNCWELL_STACK = {"users": 0, "services": MOTO}


@pytest.fixture(scope="module")
def env(syncwell_stack):
    return syncwell_stack.service_env()


def test_queues_have_the_declared_redrive_and_fifo_settings(syncwell_stack, env):
    sqs = aws_clients.client("sqs", env)
    resources = syncwell_stack.resources
    hot = sqs.get_queue_attributes(QueueUrl=resources["hot_queue_url"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=resources["dlq_url"], AttributeNames=["QueueArn"])["Attributes"]
    redrive = json.loads(hot["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    assert redrive["deadLetterTargetArn"] == dlq_arn["QueueArn"]
    fifo = sqs.get_queue_attributes(QueueUrl=resources["coalescing_queue_url"], AttributeNames=["All"])["Attributes"]
    assert fifo["FifoQueue"] == "true"
    assert fifo["ContentBasedDeduplication"] == "false"
    assert fifo["DelaySeconds"] == "60"


def test_table_has_keys_gsis_and_ttl(env):
    dynamodb = aws_clients.client("dynamodb", env)
    table = dynamodb.describe_table(TableName="SyncWellMetadata")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"PK": "HASH", "SK": "RANGE"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {schema.REAUTH_GSI, schema.SCHEDULER_GSI}
    ttl = dynamodb.describe_time_to_live(TableName="SyncWellMetadata")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"


def test_secrets_bucket_and_event_bus_exist(env):
    secrets = aws_clients.client("secretsmanager", env)
    for provider in ("strava", "fitbit", "garmin"):
        value = json.loads(secrets.get_secret_value(SecretId=schema.provider_app_secret_name(provider))["SecretString"])
        assert value["clientId"] and value["clientSecret"]
    aws_clients.client("s3", env).head_bucket(Bucket="syncwell-exports")
    buses = aws_clients.client("events", env).list_event_buses()["EventBuses"]
    assert "SyncWellEvents" in {bus["Name"] for bus in buses}


def test_running_twice_changes_nothing_and_converges_drifted_attributes(syncwell_stack, env):
    sqs = aws_clients.client("sqs", env)
    hot_url = syncwell_stack.resources["hot_queue_url"]
    sqs.set_queue_attributes(QueueUrl=hot_url, Attributes={"VisibilityTimeout": "7"})
    secrets = aws_clients.client("secretsmanager", env)
    name = schema.provider_app_secret_name("strava")
    secrets.put_secret_value(SecretId=name, SecretString=json.dumps({"clientId": "real", "clientSecret": "kept"}))

    again = create_resources(StackConfig.from_env(env), env)

    assert again["hot_queue_url"] == hot_url
    attrs = sqs.get_queue_attributes(QueueUrl=hot_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "60"
    assert json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])["clientId"] == "real"
    assert len(sqs.list_queues()["QueueUrls"]) == 3


def test_cli_prints_json_and_refuses_to_run_without_a_table(env):
    done = subprocess.run([sys.executable, "-m", "stack.bootstrap", "--json"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["table_name"] == "SyncWellMetadata"
    no_table = {k: v for k, v in env.items() if k != "SYNCWELL_TABLE_NAME"}
    failed = subprocess.run([sys.executable, "-m", "stack.bootstrap"], env=no_table, capture_output=True,
                            text=True, timeout=60)
    assert failed.returncode == 2
    assert "SYNCWELL_TABLE_NAME" in failed.stderr
