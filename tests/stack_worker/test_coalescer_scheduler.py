"""The webhook coalescer and the tiered scheduler, against moto over HTTP (and as real processes)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from stack import schema
from stack.coalescer.service import Coalescer
from stack.scheduler.__main__ import build

from .harness import ServiceProcess, service_env, wait_for
from .test_worker_happy import _new_pair, _source_count, _writes


def _webhooks(stack, user_id: str, provider_user_id: str, count: int) -> None:
    """A storm: ``count`` notifications for one user, sent together (what the API does per delivery batch)."""
    entries = []
    for n in range(count):
        body = {"provider": "strava", "providerUserId": provider_user_id, "userId": user_id,
                "event": {"object_type": "activity", "aspect_type": "create", "object_id": n},
                "receivedAt": time.time(), "correlationId": f"corr-{user_id}"}
        entries.append({"Id": str(n), "MessageBody": json.dumps(body), "MessageGroupId": user_id,
                        "MessageDeduplicationId": f"{user_id}-{n}"})
    assert not stack.sqs.send_message_batch(QueueUrl=stack.fifo_url, Entries=entries).get("Failed")


def test_webhook_storm_for_one_user_becomes_one_job(make_stack, strava):
    stack = make_stack()
    storm_user, storm_src, storm_dst, storm_src_user, _ = _new_pair(stack, strava)
    calm_user, calm_src, _, calm_src_user, _ = _new_pair(stack, strava)
    _webhooks(stack, storm_user, str(storm_src_user["user_id"]), 6)
    _webhooks(stack, calm_user, str(calm_src_user["user_id"]), 2)
    coalescer = Coalescer(stack.config, stack.sqs, stack.ddb, poll_wait_s=0)
    assert coalescer.poll_once() == 2
    assert stack.queue_depth(stack.fifo_url) == 0
    jobs = [json.loads(m["Body"]) for m in stack.drain(stack.hot_url)]
    assert sorted(j["userId"] for j in jobs) == sorted([storm_user, calm_user])
    storm_job = next(j for j in jobs if j["userId"] == storm_user)
    assert storm_job["sourceConnectionId"] == storm_src and storm_job["destinationConnectionId"] == storm_dst
    assert storm_job["origin"] == "webhook" and storm_job["correlationId"] == f"corr-{storm_user}"
    assert coalescer.counters.snapshot()["webhooks_received"] == 8


def test_coalescer_and_worker_processes_sync_a_webhook_storm(make_stack, strava, tmp_path):
    stack = make_stack({"coalescer": {"delay_s": 1}})  # the buffering window (60 s in production)
    user_id, src, dst, src_user, dst_user = _new_pair(stack, strava)
    env = service_env(stack, tmp_path)
    coalescer = ServiceProcess("stack.coalescer", env)
    worker = ServiceProcess("stack.worker", env, "--concurrency", "2")
    try:
        assert worker.ready["service"] == "worker" and coalescer.ready["service"] == "coalescer"
        _webhooks(stack, user_id, str(src_user["user_id"]), 5)
        wait_for(lambda: len(_writes(strava, dst_user)) == _source_count(strava, src_user), 60,
                 what="the storm's sync to reach the destination")
        wait_for(lambda: worker.health()["succeeded"] == 1, 30, what="the worker to count the job")
        assert coalescer.health()["jobs_sent"] == 1
        health = worker.health()
        assert health["dead_lettered"] == 0 and health["third_party_calls"] > 0
    finally:
        assert worker.stop() == 0 and coalescer.stop() == 0
    lines = [json.loads(line) for line in worker.stderr_lines if line.startswith("{")]
    assert any(line.get("correlationId") == f"corr-{user_id}" for line in lines)
    tokens = (src_user["access_token"], src_user["refresh_token"], dst_user["access_token"])
    assert not any(token in "".join(worker.stderr_lines) for token in tokens)


def test_scheduler_enqueues_due_configs_only_and_advances_them(make_stack, strava, tmp_path):
    stack = make_stack({"scheduler": {"preflight_providers": ["strava"]}})
    now = int(time.time())

    def pair(tier: str, next_sync: int, cursor: int = 0):
        user_id, src, dst, src_user, _ = _new_pair(stack, strava, history_days=10)
        assert _source_count(strava, src_user) > 0
        stack.add_config(user_id, src, dst, tier=tier, next_sync=next_sync, cursor=cursor)
        return user_id, src

    due_pro = pair("PRO", now - 5)
    due_free = pair("FREE", now - 3600)
    not_due = pair("PRO", now + 600)
    no_new_data = pair("PRO", now - 5, cursor=now + 86400)   # pre-flight finds nothing after the cursor
    reauth = pair("PRO", now - 5)
    connection = stack.get(schema.user_pk(reauth[0]), schema.connection_sk(reauth[1]))
    stack.put({**connection, "status": "needs_reauth", "ReAuthStatus": "NEEDS_REAUTH"})

    result = build(stack.config).run_pass(now=now)
    assert (result.due, result.enqueued, result.skipped_no_new_data, result.skipped_inactive) == (4, 2, 1, 1)
    jobs = [json.loads(m["Body"]) for m in stack.drain(stack.hot_url)]
    assert sorted(j["userId"] for j in jobs) == sorted([due_pro[0], due_free[0]])
    assert all(j["origin"] == "scheduler" and j["idempotencyKey"].startswith("sched:") for j in jobs)
    assert stack.config_item(*due_pro)["NextSyncTimestamp"] == now + 900
    assert stack.config_item(*due_free)["NextSyncTimestamp"] == now + 86400
    assert stack.config_item(*not_due)["NextSyncTimestamp"] == now + 600
    assert stack.config_item(*no_new_data)["NextSyncTimestamp"] == now + 900

    # The real process, one pass: nothing is due any more.
    out = subprocess.run([sys.executable, "-m", "stack.scheduler", "--once"], env=service_env(stack, tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["enqueued"] == 0
