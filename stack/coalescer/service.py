"""The webhook coalescer (001 Model 4, ``CoalescingTriggerLambda``): CoalescingBufferQueue.fifo -> HotPathSyncQueue.

The FIFO queue's delivery delay (60 s, set by the bootstrap) lets a user's webhook storm accumulate; each batch
received (up to 10) becomes ONE hot-path job per unique user and sync config whose source is the notifying
provider, then the batch is deleted. Per batch: one BatchGetItem for the provider-user mappings, one for the
sync configs, one SendMessageBatch, one DeleteMessageBatch.

Idempotency: a job's key is derived from the ids of the webhook messages it coalesces, so a batch redelivered
after a crash (sent but not deleted) yields the same keys and the worker drops the repeats.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from stack import schema
from stack.config import StackConfig
from stack.service_main import PollingService, send_jobs
from stack.worker.ddb import batch_get

log = logging.getLogger("syncwell.coalescer")
COUNTERS = ("webhooks_received", "users_coalesced", "jobs_sent", "unknown_users", "batches", "send_failures")


@dataclass
class UserWebhooks:
    user_id: str
    provider: str
    provider_user_id: str
    message_ids: list[str] = field(default_factory=list)
    correlation_id: str = ""


class Coalescer(PollingService):
    def __init__(self, config: StackConfig, sqs: Any, ddb: Any, *, poll_wait_s: int = 2) -> None:
        # No pause between polls (the receive long-polls); 1 s after a failed one.
        super().__init__("coalescer", log, step_name="poll", retry_s=1.0)
        self.config = config
        self.sqs = sqs
        self.ddb = ddb
        self.poll_wait_s = poll_wait_s
        self.buffer_url = sqs.get_queue_url(QueueName=config.coalescing_queue)["QueueUrl"]
        self.hot_url = sqs.get_queue_url(QueueName=config.hot_queue)["QueueUrl"]

    def step(self) -> int:
        return self.poll_once()

    def poll_once(self, wait_s: int | None = None) -> int:
        """Receive one batch and coalesce it. Returns the number of jobs sent."""
        response = self.sqs.receive_message(QueueUrl=self.buffer_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=self.poll_wait_s if wait_s is None else wait_s,
                                            MessageAttributeNames=["All"])
        messages = response.get("Messages") or []
        if not messages:
            return 0
        self.counters.add("batches")
        self.counters.add("webhooks_received", len(messages))
        users = group_by_user(messages)
        self.counters.add("users_coalesced", len(users))
        jobs = self._jobs_for(users)
        if not self._send(jobs):
            return 0  # not deleted: the batch comes back and is coalesced again (same idempotency keys)
        self.sqs.delete_message_batch(QueueUrl=self.buffer_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        self.counters.add("jobs_sent", len(jobs))
        log.info("coalesced %d webhooks for %d users into %d jobs", len(messages), len(users), len(jobs))
        return len(jobs)

    def _jobs_for(self, users: list[UserWebhooks]) -> list[schema.SyncJobMessage]:
        mapping_keys = [(schema.provider_user_pk(u.provider, u.provider_user_id),) * 2 for u in users]
        mappings = batch_get(self.ddb, self.config.table_name, mapping_keys)
        sources: dict[str, tuple[UserWebhooks, str]] = {}   # source connection id -> (webhooks, user id)
        for user, key in zip(users, mapping_keys):
            mapping = mappings.get(key)
            if mapping is None or (user.user_id and mapping.get("userId") != user.user_id):
                self.counters.add("unknown_users")
                log.warning("webhook for an unmapped provider user dropped",
                            extra={"correlationId": user.correlation_id})
                continue
            sources[str(mapping["connectionId"])] = (user, str(mapping["userId"]))
        config_keys = [(schema.user_pk(uid), schema.sync_config_sk(conn, dt))
                       for conn, (_, uid) in sources.items() for dt in schema.DATA_TYPES]
        configs = batch_get(self.ddb, self.config.table_name, config_keys) if config_keys else {}
        jobs: list[schema.SyncJobMessage] = []
        now = time.time()
        for (pk, sk), cfg in sorted(configs.items()):
            if not cfg.get("enabled", True):
                continue
            user, _ = sources[str(cfg["sourceConnectionId"])]
            key = hashlib.sha256(("|".join(sorted(user.message_ids)) + "|" + sk).encode()).hexdigest()[:32]
            jobs.append(schema.SyncJobMessage(
                jobId=f"job_{uuid.uuid4()}", userId=str(cfg["userId"]), sourceConnectionId=str(cfg["sourceConnectionId"]),
                destinationConnectionId=str(cfg["destinationConnectionId"]), dataType=str(cfg["dataType"]),
                mode="manual", priority="medium", idempotencyKey=f"webhook:{key}",
                correlationId=user.correlation_id or uuid.uuid4().hex, requestedAt=now, origin="webhook"))
        return jobs

    def _send(self, jobs: list[schema.SyncJobMessage]) -> bool:
        failed = send_jobs(self.sqs, self.hot_url, jobs)
        if failed:
            self.counters.add("send_failures", len(failed))
            log.error("could not send every coalesced job; the webhook batch will be redelivered")
            return False
        return True


def group_by_user(messages: list[dict[str, Any]]) -> list[UserWebhooks]:
    """One entry per (user, provider) in the batch, remembering the message ids it covers (the Set of the seed)."""
    users: dict[tuple[str, str], UserWebhooks] = {}
    for message in messages:
        try:
            body = json.loads(message["Body"])
        except ValueError:
            log.error("malformed webhook message dropped")
            continue
        key = (str(body.get("userId") or ""), str(body.get("provider") or ""))
        entry = users.setdefault(key, UserWebhooks(key[0], key[1], str(body.get("providerUserId") or ""),
                                                   correlation_id=str(body.get("correlationId") or "")))
        entry.message_ids.append(str(message["MessageId"]))
    return list(users.values())
