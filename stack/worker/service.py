"""The worker process: N poller threads, each long-polling HotPathSyncQueue for batches of 10 and running them
through one shared BatchProcessor (one boto3 client per AWS service, one pooled HTTP client per provider)."""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stack.config import StackConfig
from stack.providers import make_clients
from stack.providers.lean_http import DEFAULT_MAX_BODY_BYTES
from stack.worker.aws import hot_path_client
from stack.worker.credentials import CredentialStore
from stack.worker.device import DeviceUploads
from stack.worker.health import Counters, HealthServer
from stack.worker.processor import FAULTY, BatchProcessor, ProcessorSettings
from stack.worker.requeue import Backoff, Requeuer
from stack.worker.sync import SyncEngine
from stack.worker.tokenbucket import BucketSpec, TokenBuckets

log = logging.getLogger("syncwell.worker")


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int
    batch_size: int
    poll_wait_s: int
    visibility_timeout_s: int
    max_receive_count: int
    backoff_base_s: float
    backoff_cap_s: float
    idempotency_ttl_s: int
    cache_size: int
    cache_ttl_s: float
    seed: int
    retry_after_cap_s: float = 900.0
    max_response_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_config(cls, config: StackConfig, concurrency: int | None = None, seed: int = 0) -> "WorkerSettings":
        w = config.tuning.get("worker", {})
        return cls(concurrency=int(concurrency or w.get("concurrency", 4)), batch_size=int(w.get("batch_size", 10)),
                   poll_wait_s=int(w.get("poll_wait_s", 2)), visibility_timeout_s=int(w.get("visibility_timeout_s", 60)),
                   max_receive_count=int(w.get("max_receive_count", 5)),
                   backoff_base_s=float(w.get("backoff_base_s", 2)), backoff_cap_s=float(w.get("backoff_cap_s", 300)),
                   idempotency_ttl_s=int(w.get("idempotency_ttl_s", 86400)),
                   cache_size=int(w.get("credential_cache_size", 1000)),
                   cache_ttl_s=float(w.get("credential_cache_ttl_s", 300)), seed=seed,
                   retry_after_cap_s=float(w.get("retry_after_cap_s", 900)),
                   max_response_body_bytes=int(w.get("max_response_body_bytes", DEFAULT_MAX_BODY_BYTES)))


def aws_client(service: str, config: StackConfig, pool: int = 50) -> Any:
    """One client per service per process (stack.worker.aws: trimmed per-call overhead, short timeouts)."""
    return hot_path_client(service, config, pool)


class WorkerService:
    def __init__(self, config: StackConfig, settings: WorkerSettings) -> None:
        self.config = config
        self.settings = settings
        self.counters = Counters()
        pool = max(16, settings.concurrency * 12)  # pollers x parallel lock writes share one pool per service
        self.sqs = aws_client("sqs", config, pool)
        self.ddb = aws_client("dynamodb", config, pool)
        self.secrets = aws_client("secretsmanager", config, pool)
        self.events = aws_client("events", config, pool)
        specs = {p: BucketSpec(float(v["rate_per_s"]), float(v["burst"]))
                 for p, v in config.tuning.get("token_buckets", {}).items()}
        self.buckets = TokenBuckets(config.redis_url, specs)
        # SYNCWELL_WORKER_FAULTY=ignore_token_bucket: a deliberately broken worker for the chaos harness's tests.
        take = (lambda *_a, **_k: None) if FAULTY == "ignore_token_bucket" else self.buckets.take
        self.providers = make_clients(config.provider_urls, take, pool_size=pool,
                                      on_call=lambda _p: self.counters.add("third_party_calls"),
                                      max_body_bytes=settings.max_response_body_bytes)
        self.credentials = CredentialStore(self.secrets, self.providers, max_entries=settings.cache_size,
                                           ttl_s=settings.cache_ttl_s,
                                           on_refresh=lambda _p: self.counters.add("token_refreshes"))
        self.engine = SyncEngine(self.providers, self.credentials,
                                 on_written=lambda n: self.counters.add("items_written", n),
                                 device_uploads=DeviceUploads(aws_client("s3", config, pool)))
        self.queue_url = self.sqs.get_queue_url(QueueName=config.hot_queue)["QueueUrl"]
        intervals = {"PRO": int(config.tuning.get("scheduler", {}).get("pro_interval_s", 900)),
                     "FREE": int(config.tuning.get("scheduler", {}).get("free_interval_s", 86400))}
        self.processor = BatchProcessor(
            ddb=self.ddb, events=self.events, requeuer=Requeuer(self.sqs, self.queue_url), engine=self.engine,
            buckets=self.buckets, counters=self.counters,
            backoff=Backoff(settings.backoff_base_s, settings.backoff_cap_s, random.Random(settings.seed),
                            settings.retry_after_cap_s),
            settings=ProcessorSettings(table=config.table_name, event_bus=config.event_bus,
                                       max_receive_count=settings.max_receive_count,
                                       lease_s=settings.visibility_timeout_s,
                                       idempotency_ttl_s=settings.idempotency_ttl_s, tier_intervals_s=intervals,
                                       lock_parallelism=max(10, settings.concurrency * 10)))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.health: HealthServer | None = None

    def health_payload(self) -> dict[str, Any]:
        return {"status": "ok", "service": "worker", "concurrency": self.settings.concurrency,
                "redis_available": self.buckets.available, "credential_cache_entries": len(self.credentials._cache),
                "uptime_s": round(time.time() - self.counters.started_at, 1), "counters": self.counters.snapshot(),
                **self.counters.snapshot()}

    def start(self, health_host: str = "127.0.0.1", health_port: int = 0) -> "WorkerService":
        self.health = HealthServer(self.health_payload, health_host, health_port).start()
        for index in range(self.settings.concurrency):
            thread = threading.Thread(target=self._poll_loop, name=f"poller-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        deadline = time.time() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.time()))
        if self.health:
            self.health.stop()
        self.processor.close()
        self.buckets.close()

    def _poll_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                response = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=self.settings.batch_size,
                    WaitTimeSeconds=self.settings.poll_wait_s, VisibilityTimeout=self.settings.visibility_timeout_s,
                    AttributeNames=["ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"],
                    MessageAttributeNames=["All"])
                failures = 0
            except (ClientError, BotoCoreError) as exc:
                failures += 1
                log.warning("ReceiveMessage failed", extra={"reason": type(exc).__name__})
                self._stop.wait(min(5.0, 0.2 * 2 ** failures))
                continue
            messages = response.get("Messages") or []
            if not messages:
                continue
            try:
                self.processor.process(messages)
            except Exception:  # never let a poller die: the messages come back after their visibility timeout
                log.exception("batch processing crashed; messages will be redelivered")
