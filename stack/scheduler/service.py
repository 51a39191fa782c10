"""Automatic sync scheduling (001 §3f): tiered fan-out over Murmur3 shards.

A pass queries ``SyncTierShardId-NextSyncTimestamp-gsi`` for every tier and shard (``"{tier}#{shard}"``, sort key
``NextSyncTimestamp <= now``), enqueues one hot-path job per due, enabled sync config, and advances its
``NextSyncTimestamp`` by the tier's interval (PRO 15 min, FREE daily) with a conditional update on the value it
read (two schedulers never both advance the same slot).

Adaptive polling: for providers without webhooks (``scheduler.preflight_providers``, Garmin by default) a cheap
``hasNewData`` check (a one-item / one-window listing after the cursor, through the token bucket) runs first;
nothing new means no job, only the advance. When the check itself cannot run (no token, provider or Secrets
Manager trouble) the job is enqueued anyway: the worker knows how to wait.

TTL: after the scheduling, the first pass and then one pass every ``scheduler.ttl_sweep_interval_s`` run the TTL
sweeper (stack/scheduler/ttlsweep.py) when DynamoDB is not AWS itself (moto never expires items); a sweep that
fails is logged and never fails the pass.

Jobs are enqueued BEFORE the advance. A crash in between re-enqueues on the next pass with the same idempotency
key (derived from the config and the slot's NextSyncTimestamp), which the worker drops as a duplicate.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from stack import schema
from stack.config import StackConfig
from stack.providers import HttpProvider, ProviderError
from stack.scheduler.ttlsweep import INTERVAL_S as SWEEP_INTERVAL_S
from stack.scheduler.ttlsweep import TtlSweeper
from stack.service_main import PollingService, send_jobs
from stack.worker.credentials import CredentialStore, CredentialsUnavailable, SecretNotFound
from stack.worker.ddb import batch_get, from_ddb
from stack.worker.tokenbucket import NoToken

log = logging.getLogger("syncwell.scheduler")
TIERS = ("PRO", "FREE")


@dataclass
class PassResult:
    due: int = 0
    enqueued: int = 0
    skipped_no_new_data: int = 0
    skipped_inactive: int = 0
    advanced: int = 0
    ttl_deleted: int = 0    # expired items the TTL sweeper deleted in this pass (0 when it is off)
    jobs: list[dict[str, Any]] = field(default_factory=list)


class Scheduler(PollingService):
    def __init__(self, config: StackConfig, sqs: Any, ddb: Any, *, providers: Mapping[str, HttpProvider] | None = None,
                 credentials: CredentialStore | None = None, sweeper: TtlSweeper | None = None) -> None:
        tuning = config.tuning.get("scheduler", {})
        self.pass_interval_s = float(tuning.get("pass_interval_s", 60))
        # A pass every pass_interval_s, after a failed one too.
        super().__init__("scheduler", log, step_name="pass", interval_s=self.pass_interval_s,
                         retry_s=self.pass_interval_s)
        self.config = config
        self.sqs = sqs
        self.ddb = ddb
        self.providers = providers or {}
        self.credentials = credentials
        self.sweeper = sweeper
        self.sweep_interval_s = float(tuning.get("ttl_sweep_interval_s", SWEEP_INTERVAL_S))
        self._next_sweep = 0.0   # monotonic; 0: the first pass sweeps
        self.shards = int(tuning.get("shards", 16))
        self.intervals = {"PRO": int(tuning.get("pro_interval_s", 900)), "FREE": int(tuning.get("free_interval_s", 86400))}
        self.preflight = set(tuning.get("preflight_providers", ["garmin"]))
        self.hot_url = sqs.get_queue_url(QueueName=config.hot_queue)["QueueUrl"]

    # --- the loop --------------------------------------------------------------------------------------------
    def step(self) -> PassResult:
        return self.run_pass()

    def ready_info(self) -> dict[str, Any]:
        return {"shards": self.shards}

    def run_pass(self, now: float | None = None) -> PassResult:
        now = time.time() if now is None else now
        result = self._schedule(now)
        result.ttl_deleted = self._sweep(now)
        return result

    def _sweep(self, now: float) -> int:
        if self.sweeper is None or time.monotonic() < self._next_sweep:
            return 0
        self._next_sweep = time.monotonic() + self.sweep_interval_s
        try:
            swept = self.sweeper.sweep(now)
        except (ClientError, BotoCoreError) as exc:
            log.warning("TTL sweep failed; retried next pass", extra={"reason": type(exc).__name__})
            return 0
        self.counters.add("ttl_deleted", swept.deleted)
        self.counters.add("ttl_evaluated", swept.evaluated)
        return swept.deleted

    def _schedule(self, now: float) -> PassResult:
        result = PassResult()
        due = [cfg for tier in TIERS for shard in range(self.shards) for cfg in self._due(tier, shard, int(now))]
        result.due = len(due)
        if not due:
            return result
        connections = batch_get(self.ddb, self.config.table_name, [
            (schema.user_pk(str(c["userId"])), schema.connection_sk(str(c["sourceConnectionId"]))) for c in due])
        to_enqueue: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for cfg in due:
            source = connections.get((schema.user_pk(str(cfg["userId"])), schema.connection_sk(str(cfg["sourceConnectionId"]))))
            if not cfg.get("enabled", True) or source is None or source.get("status") != "active":
                result.skipped_inactive += 1
            elif source.get("provider") in self.preflight and not self._has_new_data(source, cfg):
                result.skipped_no_new_data += 1
            else:
                to_enqueue.append((cfg, _job(cfg)))
        self._send([job for _, job in to_enqueue])
        result.enqueued = len(to_enqueue)
        result.jobs = [job for _, job in to_enqueue]
        for cfg in due:
            if self._advance(cfg, int(now)):
                result.advanced += 1
        for name in ("due", "enqueued", "skipped_no_new_data", "skipped_inactive", "advanced"):
            self.counters.add(name, getattr(result, name))
        self.counters.add("passes")
        log.info("scheduler pass: %d due, %d enqueued, %d without new data, %d inactive", result.due,
                 result.enqueued, result.skipped_no_new_data, result.skipped_inactive)
        return result

    # --- steps -----------------------------------------------------------------------------------------------
    def _due(self, tier: str, shard: int, now: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.config.table_name, "IndexName": schema.SCHEDULER_GSI,
            "KeyConditionExpression": "SyncTierShardId = :shard AND NextSyncTimestamp <= :now",
            "ExpressionAttributeValues": {":shard": {"S": f"{tier}#{shard}"}, ":now": {"N": str(now)}}}
        while True:
            page = self.ddb.query(**request)
            items.extend(from_ddb(raw) for raw in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _has_new_data(self, source: Mapping[str, Any], cfg: Mapping[str, Any]) -> bool:
        client = self.providers.get(str(source.get("provider")))
        if client is None or self.credentials is None:
            return True
        try:
            token = self.credentials.access_token(str(source["provider"]), str(source["secretName"]))
            return client.has_new_data(token, str(cfg["dataType"]), int(cfg.get("cursor") or 0))
        except (NoToken, ProviderError, CredentialsUnavailable, SecretNotFound, ClientError, BotoCoreError) as exc:
            log.info("pre-flight check unavailable; enqueueing anyway", extra={"reason": type(exc).__name__})
            return True

    def _send(self, jobs: list[dict[str, Any]]) -> None:
        failed = send_jobs(self.sqs, self.hot_url, jobs)
        if failed:
            raise RuntimeError(f"could not enqueue {len(failed)} scheduled jobs")

    def _advance(self, cfg: Mapping[str, Any], now: int) -> bool:
        tier = str(cfg.get("SyncTierShardId", "FREE#0")).split("#")[0]
        interval = self.intervals.get(tier, self.intervals["FREE"])
        try:
            self.ddb.update_item(
                TableName=self.config.table_name, Key={"PK": {"S": str(cfg["PK"])}, "SK": {"S": str(cfg["SK"])}},
                UpdateExpression="SET NextSyncTimestamp = :next",
                ConditionExpression="NextSyncTimestamp = :seen",
                ExpressionAttributeValues={":next": {"N": str(now + interval)},
                                           ":seen": {"N": str(int(cfg["NextSyncTimestamp"]))}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False  # someone (another scheduler, the worker after a sync) moved it already
            raise
        return True


def _job(cfg: Mapping[str, Any]) -> dict[str, Any]:
    slot = int(cfg["NextSyncTimestamp"])
    return dict(schema.SyncJobMessage(
        jobId=f"job_{uuid.uuid4()}", userId=str(cfg["userId"]), sourceConnectionId=str(cfg["sourceConnectionId"]),
        destinationConnectionId=str(cfg["destinationConnectionId"]), dataType=str(cfg["dataType"]), mode="manual",
        priority="low", idempotencyKey=f"sched:{cfg['userId']}:{cfg['SK']}:{slot}", correlationId=uuid.uuid4().hex,
        requestedAt=time.time(), origin="scheduler"))
