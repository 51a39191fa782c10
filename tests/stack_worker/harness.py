"""Test harness for the worker, coalescer and scheduler: real moto over HTTP, a real redis-server, the fake
providers, and the services running as threads (or processes) of their own, talking HTTP to all of them."""
from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from typing import Any, Callable

import boto3
from botocore.config import Config

from stack import schema
from stack.bootstrap import local_app_secret
from stack.config import StackConfig, load_tuning
from stack.worker.ddb import from_ddb, to_ddb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class TcpToggleProxy:
    """A loopback TCP proxy that can be switched 'down' (refuses and cuts connections) to emulate an outage."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.down = False
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def set_down(self, down: bool) -> None:
        self.down = down
        if down:
            with self._lock:
                for s in list(self._open):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                self._open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data or self.down:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)

    def close(self) -> None:
        self._listener.close()
        self.set_down(True)


class RedisServer:
    """A real redis-server on a free port (restartable on the same port for outage tests)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen | None = None
        self._fake: Any = None

    def start(self) -> "RedisServer":
        import redis
        if self.binary:
            self._proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:  # pragma: no cover - machines without redis-server
            from fakeredis import TcpFakeServer
            self._fake = TcpFakeServer(("127.0.0.1", self.port), server_type="redis")
            threading.Thread(target=self._fake.serve_forever, daemon=True).start()
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        wait_for(lambda: _ping(client), 10, what="redis-server to answer")
        client.close()
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None
        if self._fake is not None:  # pragma: no cover
            self._fake.shutdown()
            self._fake.server_close()
            self._fake = None


def _ping(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def client(service: str, endpoint: str | None = None) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint,
                        config=Config(retries={"mode": "standard", "max_attempts": 3}))


class StackUnderTest:
    """One isolated set of AWS resources (unique names) on the shared moto server, plus helpers."""

    def __init__(self, redis_url: str, provider_urls: dict[str, str], tuning: dict[str, Any] | None = None) -> None:
        suffix = uuid.uuid4().hex[:8]
        merged = load_tuning()
        for section, values in (tuning or {}).items():
            merged.setdefault(section, {}).update(copy.deepcopy(values))
        self.config = StackConfig(
            table_name=f"SyncWellMetadata-{suffix}", hot_queue=f"HotPathSyncQueue-{suffix}",
            dlq=f"HotPathSyncDLQ-{suffix}", coalescing_queue=f"CoalescingBufferQueue-{suffix}.fifo",
            event_bus=f"SyncWellEvents-{suffix}", redis_url=redis_url,
            provider_urls={**{p: "http://127.0.0.1:9" for p in ("strava", "fitbit", "garmin")}, **provider_urls},
            tuning=merged)
        self.sqs = client("sqs")
        self.ddb = client("dynamodb")
        self.sm = client("secretsmanager")
        self.events = client("events")
        self.services: list[Any] = []
        self._create()

    def _create(self) -> None:
        c = self.config
        self.ddb.create_table(
            TableName=c.table_name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in
                                  (("PK", "S"), ("SK", "S"), ("ReAuthStatus", "S"), ("SyncTierShardId", "S"),
                                   ("NextSyncTimestamp", "N"))],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": schema.REAUTH_GSI, "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "ReAuthStatus", "KeyType": "HASH"},
                               {"AttributeName": "PK", "KeyType": "RANGE"}]},
                {"IndexName": schema.SCHEDULER_GSI, "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "SyncTierShardId", "KeyType": "HASH"},
                               {"AttributeName": "NextSyncTimestamp", "KeyType": "RANGE"}]}])
        self.dlq_url = self.sqs.create_queue(QueueName=c.dlq)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.hot_url = self.sqs.create_queue(QueueName=c.hot_queue, Attributes={
            "VisibilityTimeout": str(c.tune("worker", "visibility_timeout_s")),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": str(c.tune("worker", "max_receive_count"))})})["QueueUrl"]
        self.fifo_url = self.sqs.create_queue(QueueName=c.coalescing_queue, Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "false",
            "DelaySeconds": str(c.tune("coalescer", "delay_s"))})["QueueUrl"]
        self.events.create_event_bus(Name=c.event_bus)
        # moto's state is process-wide: every ThreadedMotoServer in this pytest process (tests/stack_api starts
        # one too) serves the same secrets. So the app secrets are the stack's standard local ones (what the
        # bootstrap, tests/stack_api and the launcher's fakes use), whoever creates them first, and our fakes
        # issue tokens to that client id (conftest): a refresh is then accepted in any test order.
        for provider in ("strava", "fitbit", "garmin"):
            name = schema.provider_app_secret_name(provider)
            value = json.dumps(dict(local_app_secret(provider)))
            try:
                self.sm.create_secret(Name=name, SecretString=value)
            except self.sm.exceptions.ResourceExistsException:
                self.sm.put_secret_value(SecretId=name, SecretString=value)

    # --- data ----------------------------------------------------------------------------------------------
    def put(self, item: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.config.table_name, Item=to_ddb(item))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self.ddb.get_item(TableName=self.config.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}},
                                ConsistentRead=True).get("Item")
        return from_ddb(raw) if raw else None

    def add_connection(self, user_id: str, provider: str, fake_user: dict[str, Any]) -> str:
        connection_id = f"conn_{uuid.uuid4().hex}"
        secret = schema.connection_secret_name(user_id, connection_id)
        tokens = schema.ProviderTokens(accessToken=fake_user["access_token"], refreshToken=fake_user["refresh_token"],
                                       expiresAt=int(fake_user["expires_at"]), scope=fake_user.get("scope", ""),
                                       providerUserId=str(fake_user["user_id"]))
        self.sm.create_secret(Name=secret, SecretString=json.dumps(tokens))
        self.put({"PK": schema.user_pk(user_id), "SK": schema.connection_sk(connection_id),
                  "connectionId": connection_id, "userId": user_id, "provider": provider,
                  "providerUserId": str(fake_user["user_id"]), "displayName": provider, "status": "active",
                  "secretName": secret, "version": 1})
        self.put({"PK": schema.provider_user_pk(provider, str(fake_user["user_id"])),
                  "SK": schema.provider_user_pk(provider, str(fake_user["user_id"])), "userId": user_id,
                  "connectionId": connection_id})
        return connection_id

    def tokens(self, user_id: str, connection_id: str) -> dict[str, Any]:
        name = schema.connection_secret_name(user_id, connection_id)
        return json.loads(self.sm.get_secret_value(SecretId=name)["SecretString"])

    def add_config(self, user_id: str, source: str, destination: str, data_type: str = "workout", *,
                   tier: str = "PRO", next_sync: int | None = None, cursor: int = 0,
                   strategy: str = "newest_wins") -> dict[str, Any]:
        item = {"PK": schema.user_pk(user_id), "SK": schema.sync_config_sk(source, data_type), "userId": user_id,
                "sourceConnectionId": source, "destinationConnectionId": destination, "dataType": data_type,
                "conflictStrategy": strategy, "enabled": True, "cursor": cursor,
                "SyncTierShardId": schema.tier_shard_id(tier, user_id, int(self.config.tune("scheduler", "shards"))),
                "NextSyncTimestamp": int(time.time()) + 3600 if next_sync is None else next_sync, "version": 1}
        self.put(item)
        return item

    def config_item(self, user_id: str, source: str, data_type: str = "workout") -> dict[str, Any] | None:
        return self.get(schema.user_pk(user_id), schema.sync_config_sk(source, data_type))

    def job_message(self, user_id: str, source: str, destination: str, data_type: str = "workout", *,
                    idempotency_key: str | None = None, job_id: str | None = None,
                    origin: str = "manual") -> dict[str, Any]:
        job_id = job_id or f"job_{uuid.uuid4()}"
        return {"jobId": job_id, "userId": user_id, "sourceConnectionId": source, "destinationConnectionId": destination,
                "dataType": data_type, "mode": "manual", "priority": "high",
                "idempotencyKey": idempotency_key or str(uuid.uuid4()), "correlationId": f"corr-{uuid.uuid4().hex[:12]}",
                "requestedAt": time.time(), "origin": origin}

    def submit(self, message: dict[str, Any], job_item: bool = True) -> str:
        """What the API does: the JOB item (QUEUED), then the message with the correlation id attribute."""
        if job_item:
            self.put({"PK": schema.user_pk(message["userId"]), "SK": schema.job_sk(message["jobId"]),
                      "jobId": message["jobId"], "userId": message["userId"], "status": "QUEUED",
                      "idempotencyKey": message["idempotencyKey"], "sourceConnectionId": message["sourceConnectionId"],
                      "destinationConnectionId": message["destinationConnectionId"], "dataType": message["dataType"],
                      "createdAt": message["requestedAt"], "updatedAt": message["requestedAt"],
                      "progress": {"totalChunks": 0, "processedChunks": 0, "failedChunks": 0}, "version": 1})
        self.sqs.send_message(QueueUrl=self.hot_url, MessageBody=json.dumps(message), MessageAttributes={
            "correlationId": {"DataType": "String", "StringValue": message["correlationId"]}})
        return message["jobId"]

    def job(self, user_id: str, job_id: str) -> dict[str, Any] | None:
        return self.get(schema.user_pk(user_id), schema.job_sk(job_id))

    def wait_job(self, user_id: str, job_id: str, statuses: tuple[str, ...] = ("SUCCEEDED",),
                 timeout: float = 120.0) -> dict[str, Any]:
        return wait_for(lambda: (lambda j: j if j and j.get("status") in statuses else None)(self.job(user_id, job_id)),
                        timeout, what=f"job {job_id} to reach {statuses}")

    def queue_depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in attrs.values())

    def drain(self, url: str, max_messages: int = 100) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < max_messages:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not got:
                break
            out.extend(got)
        return out

    # --- services ------------------------------------------------------------------------------------------
    def start_worker(self, concurrency: int = 2, **settings: Any) -> Any:
        from stack.worker.service import WorkerService, WorkerSettings
        base = WorkerSettings.from_config(self.config, concurrency)
        worker = WorkerService(self.config, _replace(base, **settings)).start()
        self.services.append(worker)
        return worker

    def stop(self) -> None:
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:
                pass
        self.services.clear()


def _replace(settings: Any, **changes: Any) -> Any:
    import dataclasses
    return dataclasses.replace(settings, **changes) if changes else settings


def aws_env(moto_url: str, secrets_url: str | None = None) -> dict[str, str]:
    env = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    if secrets_url:
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = secrets_url
    return env


def set_env(values: dict[str, str]) -> None:
    os.environ.update(values)


def service_env(stack: StackUnderTest, tmp_path: Any) -> dict[str, str]:
    """The environment a service process needs to join this stack (names, endpoints, tuning file)."""
    import yaml
    c = stack.config
    tuning_file = tmp_path / f"appconfig-{uuid.uuid4().hex[:6]}.yaml"
    tuning_file.write_text(yaml.safe_dump(dict(c.tuning)))
    env = dict(os.environ)
    env.update({"SYNCWELL_TABLE_NAME": c.table_name, "SYNCWELL_HOTPATH_QUEUE": c.hot_queue,
                "SYNCWELL_HOTPATH_DLQ": c.dlq, "SYNCWELL_COALESCING_QUEUE": c.coalescing_queue,
                "SYNCWELL_EVENT_BUS": c.event_bus, "SYNCWELL_REDIS_URL": c.redis_url,
                "SYNCWELL_APPCONFIG_FILE": str(tuning_file), "PYTHONUNBUFFERED": "1"})
    for provider, url in c.provider_urls.items():
        env[f"SYNCWELL_PROVIDER_URL_{provider.upper()}"] = url
    return env


class ServiceProcess:
    """``python -m <module>`` as a real process; waits for its SWSIM-READY line."""

    def __init__(self, module: str, env: dict[str, str], *args: str) -> None:
        import sys
        from stack.readiness import parse_ready_line
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.ready: dict[str, Any] | None = None
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while self.ready is None:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"{module} exited before ready: {''.join(self.stderr_lines[-20:])}")
            self.ready = parse_ready_line(line.strip())
            if time.monotonic() > deadline:
                raise AssertionError(f"{module} not ready in 60 s")

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def health(self) -> dict[str, Any]:
        import httpx
        assert self.ready is not None
        return httpx.get(self.ready["url"] + "/health", timeout=5).json()

    def stop(self, kill: bool = False) -> int:
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
        return self.proc.wait(20)
