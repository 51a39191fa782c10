"""Test harness for the API: moto over HTTP, a real redis-server, the identity server and API processes."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import boto3
import yaml

from stack import schema
from stack.readiness import parse_ready_line

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT_SUFFIX = {"sqs": "SQS", "dynamodb": "DYNAMODB", "secretsmanager": "SECRETS_MANAGER", "s3": "S3",
                   "events": "EVENTBRIDGE"}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (bound then released)."""
    return free_port()


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    ready: dict[str, Any]
    stderr_path: Path

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def start_process(args: list[str], env: Mapping[str, str], stderr_path: Path, timeout_s: float = 30.0) -> Proc:
    stderr = open(stderr_path, "w")
    popen = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=stderr, text=True,
                             env={**os.environ, **env}, cwd=ROOT)
    found: dict[str, Any] = {}
    done = threading.Event()

    def reader() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            info = parse_ready_line(line.strip())
            if info is not None and not found:
                found.update(info)
                done.set()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout_s) or not found:
        popen.kill()
        raise RuntimeError(f"{args} did not become ready:\n{stderr_path.read_text()[-3000:]}")
    return Proc(popen, found, stderr_path)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real redis-server on a free port (fakeredis's TCP server when redis-server is missing)."""
    binary = shutil.which("redis-server")
    for _ in range(5):
        port = free_port()
        if binary:
            popen = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            popen = subprocess.Popen([sys.executable, "-c",
                                      f"from fakeredis import TcpFakeServer; "
                                      f"TcpFakeServer(('127.0.0.1', {port})).serve_forever()"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and popen.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return popen, f"redis://127.0.0.1:{port}/0"
            except OSError:
                time.sleep(0.05)
        popen.kill()
    raise RuntimeError("could not start redis")


@dataclass
class Backend:
    """moto (one threaded server for every service), Redis and the identity server."""

    moto_url: str
    redis_url: str
    identity: Proc
    keys_dir: Path
    workdir: Path
    table: str = "SyncWellMetadata"
    clients: dict[str, Any] = field(default_factory=dict)
    service_urls: dict[str, str] = field(default_factory=dict)   # per-service moto processes (benchmarks)

    @property
    def aws_env(self) -> dict[str, str]:
        env = {**AWS_ENV, "AWS_ENDPOINT_URL": self.moto_url}
        for service, url in self.service_urls.items():
            env[f"AWS_ENDPOINT_URL_{ENDPOINT_SUFFIX[service]}"] = url
        return env

    def client(self, service: str) -> Any:
        if service not in self.clients:
            url = self.service_urls.get(service, self.moto_url)
            self.clients[service] = boto3.client(service, endpoint_url=url, region_name="us-east-1",
                                                 aws_access_key_id="testing", aws_secret_access_key="testing")
        return self.clients[service]

    def api_env(self, tuning: Mapping[str, Any] | None = None, **overrides: str) -> dict[str, str]:
        env = {**self.aws_env, "SYNCWELL_TABLE_NAME": self.table, "SYNCWELL_REDIS_URL": self.redis_url,
               "SYNCWELL_JWT_ISSUERS": json.dumps(self.identity.ready["issuers"])}
        if tuning:
            path = self.workdir / f"appconfig-{time.monotonic_ns()}.yaml"
            path.write_text(yaml.safe_dump(dict(tuning)))
            env["SYNCWELL_APPCONFIG_FILE"] = str(path)
        env.update(overrides)
        return env

    def start_api(self, name: str, tuning: Mapping[str, Any] | None = None, **overrides: str) -> Proc:
        return start_process(["-m", "stack.api"], self.api_env(tuning, **overrides),
                             self.workdir / f"api-{name}.stderr")

    # -- data ------------------------------------------------------------------------------------------
    def put(self, item: Mapping[str, Any]) -> None:
        from stack.api.store import to_attrs
        self.client("dynamodb").put_item(TableName=self.table, Item=to_attrs(item))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        from stack.api.store import from_attrs
        item = self.client("dynamodb").get_item(TableName=self.table, Key={"PK": {"S": pk}, "SK": {"S": sk}},
                                                ConsistentRead=True).get("Item")
        return from_attrs(item) if item else None

    def add_user(self, user_id: str, providers: tuple[str, ...] = ("strava", "fitbit"),
                 status: str = "active") -> dict[str, str]:
        """A profile and one connection per provider (with its provider-user mapping); returns provider ->
        connectionId."""
        self.put({"PK": schema.user_pk(user_id), "SK": "PROFILE", "userId": user_id, "tier": "FREE",
                  "settings": {}, "version": 1})
        connections = {}
        for provider in providers:
            connection_id = f"conn_{user_id}_{provider}"
            provider_user_id = f"{provider}-{user_id}"
            self.put({"PK": schema.user_pk(user_id), "SK": schema.connection_sk(connection_id),
                      "connectionId": connection_id, "userId": user_id, "provider": provider,
                      "providerUserId": provider_user_id, "displayName": provider.title(), "status": status,
                      "secretName": schema.connection_secret_name(user_id, connection_id), "version": 1})
            mapping = schema.provider_user_pk(provider, provider_user_id)
            self.put({"PK": mapping, "SK": mapping, "userId": user_id, "connectionId": connection_id,
                      "provider": provider, "providerUserId": provider_user_id})
            connections[provider] = connection_id
        return connections

    def queue_url(self, name: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def queue_depth(self, name: str) -> int:
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(name), AttributeNames=["ApproximateNumberOfMessages",
                                                           "ApproximateNumberOfMessagesDelayed",
                                                           "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return sum(int(v) for v in attrs.values())

    def drain(self, name: str) -> list[dict[str, Any]]:
        """Every message currently visible in a queue (removed)."""
        sqs, url, messages = self.client("sqs"), self.queue_url(name), []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"],
                                        WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(batch)])


def create_aws_resources(backend: Backend) -> None:
    from stack.config import StackConfig
    config = StackConfig.from_env({"SYNCWELL_TABLE_NAME": backend.table})
    try:
        from stack.bootstrap import create_resources
    except ImportError:
        create_resources = None
    if create_resources is not None:
        create_resources(config, env=backend.aws_env)
        return
    ddb, sqs = backend.client("dynamodb"), backend.client("sqs")
    ddb.create_table(TableName=backend.table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                           {"AttributeName": "SK", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                {"AttributeName": "SK", "KeyType": "RANGE"}])
    sqs.create_queue(QueueName=config.dlq)
    sqs.create_queue(QueueName=config.hot_queue)
    sqs.create_queue(QueueName=config.coalescing_queue, Attributes={"FifoQueue": "true"})
    backend.client("s3").create_bucket(Bucket=config.export_bucket)
    for provider in ("strava", "fitbit", "garmin"):
        backend.client("secretsmanager").create_secret(
            Name=schema.provider_app_secret_name(provider), SecretString=json.dumps({
                "clientId": f"syncwell-local-{provider}", "clientSecret": f"syncwell-local-{provider}-secret",
                "webhookVerifyToken": f"syncwell-local-{provider}-verify",
                "subscriberVerificationCode": f"syncwell-local-{provider}-subscriber"}))


def app_secret(backend: Backend, provider: str) -> dict[str, Any]:
    response = backend.client("secretsmanager").get_secret_value(SecretId=schema.provider_app_secret_name(provider))
    return json.loads(response["SecretString"])
