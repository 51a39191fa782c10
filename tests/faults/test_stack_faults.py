"""Process, DNS and provider faults, and the proxies' wiring, against one running embedded stack (2 workers)."""
from __future__ import annotations

import json
import os
import subprocess
import time
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import redis

from stack.faults import FaultContext, FaultUnsupported, build_fault
from stack.faults.aws_client import AwsChaosClient
from stack.launcher import Stack
from tests.faults.procs import REPO, poll


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack.start(users=2, workers=2, worker_concurrency=1) as running:
        yield running


@pytest.fixture
def ctx(stack: Stack) -> FaultContext:
    return FaultContext.from_stack(stack, seed=4)


def state_of(pid: int | None) -> str:
    assert pid is not None
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]


def healthy(stack: Stack, name: str) -> bool:
    try:
        return httpx.get(str(stack.health_url(name)), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_services_reach_aws_and_redis_through_the_proxies(stack: Stack, ctx: FaultContext) -> None:
    assert stack.worker_names == ["worker-1", "worker-2"]
    assert ctx.aws_chaos_url and ctx.redis_proxy_url and ctx.hosts_file
    env = stack.service_env()
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] != stack.aws_env["AWS_ENDPOINT_URL_DYNAMODB"]
    assert env["SYNCWELL_PROVIDER_URL_STRAVA"].startswith("http://fake-strava.swsim.internal:")
    calls = poll(lambda: AwsChaosClient(str(ctx.aws_chaos_url)).counters()["calls"],
                 lambda c: c.get("sqs.ReceiveMessage", 0) > 0)
    assert calls
    assert env["SYNCWELL_REDIS_URL"] != stack.redis_url
    assert redis.Redis.from_url(env["SYNCWELL_REDIS_URL"]).ping()
    assert ctx.redis().counters()["accepted"] >= 1


def test_process_kill_kills_a_worker_and_rollback_restarts_it(stack: Stack, ctx: FaultContext) -> None:
    rollback = build_fault({"name": "lambda-crash", "type": "process_kill", "attributes": {"count": 1}}).apply(ctx)
    dead = [n for n in stack.worker_names if not stack.process(n).running]
    assert len(dead) == 1
    rollback()
    assert all(stack.process(n).running for n in stack.worker_names)
    poll(lambda: healthy(stack, dead[0]), bool)


def test_process_pause_stops_and_resumes(stack: Stack, ctx: FaultContext) -> None:
    rollback = build_fault({"name": "hang", "type": "process_pause", "target": {"process": "worker-2"}}).apply(ctx)
    pid = stack.process("worker-2").pid
    assert poll(lambda: state_of(pid), lambda s: s == "T") == "T"
    assert not healthy(stack, "worker-2")
    rollback()
    assert poll(lambda: state_of(pid), lambda s: s != "T") in "RS"
    poll(lambda: healthy(stack, "worker-2"), bool)


def test_az_failure_takes_half_of_the_workers(stack: Stack, ctx: FaultContext) -> None:
    rollback = build_fault({"name": "az-a", "type": "az_failure", "attributes": {"mode": "pause"}}).apply(ctx)
    paused = poll(lambda: [n for n in stack.worker_names if state_of(stack.process(n).pid) == "T"],
                  lambda names: len(names) >= 1)
    rollback()
    assert len(paused) == 1
    assert all(poll(lambda n=n: state_of(stack.process(n).pid), lambda s: s != "T") for n in stack.worker_names)


def test_worker_crash_loop_keeps_killing_until_rolled_back(stack: Stack, ctx: FaultContext) -> None:
    pids: set[int | None] = {stack.process(n).pid for n in stack.worker_names}
    rollback = build_fault({"name": "crash-loop", "type": "worker_crash_loop",
                            "attributes": {"interval_s": 0.2, "restart_delay_s": 0.1}}).apply(ctx)

    def seen() -> int:
        pids.update(stack.process(n).pid for n in stack.worker_names)
        return len(pids)

    try:
        poll(seen, lambda n: n >= 4, timeout_s=60)  # two restarts at least
    finally:
        rollback()
    assert all(stack.process(n).running for n in stack.worker_names)


def probe(stack: Stack, host: str, process: str) -> dict[str, Any]:
    env = {**os.environ, "SWSIM_HOSTS_FILE": str(stack.hosts_file), "SWSIM_SERVICE_NAME": process}
    out = subprocess.run([sys.executable, "-m", "stack.faults.run_hooked", "tests.faults.resolve_probe", host],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_dns_failure_makes_the_name_unresolvable_for_the_targeted_process_only(stack: Stack,
                                                                               ctx: FaultContext) -> None:
    host = ctx.provider_hosts["strava"]
    assert probe(stack, host, "worker-1") == {"address": "127.0.0.1"}
    rollback = build_fault({"name": "strava-dns", "type": "dns_failure",
                            "target": {"provider": "strava", "process": "worker-1"}}).apply(ctx)
    failed = probe(stack, host, "worker-1")
    other = probe(stack, host, "worker-2")
    rollback()
    assert "error" in failed and "not known" in failed["error"]
    assert other == {"address": "127.0.0.1"}
    assert probe(stack, host, "worker-1") == {"address": "127.0.0.1"}


def test_provider_faults_reach_the_fakes_and_roll_back(stack: Stack, ctx: FaultContext) -> None:
    url = stack.fake_url("strava")
    user = httpx.post(f"{url}/_fake/users", json={}).json()
    headers = {"Authorization": f"Bearer {user['access_token']}"}
    rollback = build_fault({"name": "strava-5xx", "type": "provider_error", "target": {"provider": "strava"},
                            "attributes": {"status": 503}}).apply(ctx)
    assert [f["name"] for f in httpx.get(f"{url}/_fake/faults").json()["faults"]] == ["strava-5xx"]
    assert httpx.get(f"{url}/api/v3/athlete", headers=headers).status_code == 503
    assert httpx.get(f"{stack.fake_url('fitbit')}/_fake/faults").json()["faults"] == []
    rollback()
    assert httpx.get(f"{url}/_fake/faults").json()["faults"] == []
    assert httpx.get(f"{url}/api/v3/athlete", headers=headers).status_code == 200


def test_fault_context_from_the_state_file_signals_by_pid(stack: Stack) -> None:
    ctx = FaultContext.from_state(stack.state_file, seed=1)
    assert ctx.aws_chaos_url == stack.aws_chaos_url
    rollback = build_fault({"name": "pause-api", "type": "process_pause", "target": {"process": "api"}}).apply(ctx)
    pid = stack.process("api").pid
    assert poll(lambda: state_of(pid), lambda s: s == "T") == "T"
    rollback()
    assert poll(lambda: state_of(pid), lambda s: s != "T") in "RS"


def test_a_fault_needing_a_missing_layer_says_so() -> None:
    with pytest.raises(FaultUnsupported, match="no AWS chaos proxy"):
        build_fault({"name": "x", "type": "aws_error"}).apply(FaultContext())


def test_a_restarted_proxy_comes_back_on_the_ports_the_services_use(stack: Stack) -> None:
    before = stack.ready_info["aws-chaos"]["listeners"]
    stack.restart_process("aws-chaos")
    stack.restart_process("redis-proxy")
    assert stack.ready_info["aws-chaos"]["listeners"] == before
    assert redis.Redis.from_url(stack.service_env()["SYNCWELL_REDIS_URL"]).ping()
    poll(lambda: AwsChaosClient(str(stack.aws_chaos_url)).counters()["calls"],
         lambda c: c.get("sqs.ReceiveMessage", 0) > 0)


def test_dynamodb_outage_through_the_proxy_makes_the_api_answer_503_fast(stack: Stack, ctx: FaultContext) -> None:
    from stack.launcher.driver import auth_headers, sync_body

    user = stack.users[0]
    warm = httpx.post(f"{stack.api_url}/v1/sync-jobs", json=sync_body(user),
                      headers=auth_headers(stack, user.user_id, "faults-ddb-warm"), timeout=30)
    assert warm.status_code == 202, warm.text   # keys and connections warm: what follows times the outage only
    rollback = build_fault({"name": "ddb-down", "type": "aws_outage", "target": {"service": "dynamodb"}}).apply(ctx)
    try:
        started = time.monotonic()
        response = httpx.post(f"{stack.api_url}/v1/sync-jobs", json=sync_body(user),
                              headers=auth_headers(stack, user.user_id, "faults-ddb-down"), timeout=30)
        elapsed = time.monotonic() - started
    finally:
        rollback()
    assert response.status_code == 503, response.text
    assert elapsed < 4.0, f"{elapsed:.2f} s: the API should give up fast (its AWS call deadline is 4 s)"
    again = httpx.post(f"{stack.api_url}/v1/sync-jobs", json=sync_body(user),
                       headers=auth_headers(stack, user.user_id, "faults-ddb-up"), timeout=30)
    assert again.status_code == 202, again.text
