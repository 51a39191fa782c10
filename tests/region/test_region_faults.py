"""Each region-level fault acts as it says, through the running pair (Route 53 clock sped up: 0.2 s checks, 0.3 s
TTL): the region's API down -> the router fails over while the region's worker drains its queue; the region's
DynamoDB down -> its API answers 503 fast (its shallow /health keeps passing, so Route 53 does not fail over;
with the checks on /health/deep it does);
replication paused -> writes queue in both directions and all arrive after the resume; the DR region down ->
nothing reaches it, the primary serves alone, and on its return its processes restart and the backlog drains.

One pair per test process (module fixture): each test leaves it as it found it (router on a healthy primary,
replication running, every process up). A restart driven from the state file gives a DR process its own
region's environment."""
from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from stack.faults import FaultContext, build_fault
from stack.region.pair import RegionOptions, RegionPair, reconfigure
from stack.region.rehearsal import APPCONFIG, FAKE_CONFIG
from stack.region.tables import job_states
from stack.seed import SeededUser

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
OPTIONS = RegionOptions(replication_lag_s=0.3, check_interval_s=0.2, failure_threshold=3, check_timeout_s=0.3,
                        dns_ttl_s=0.3, failback="manual")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "DEAD_LETTERED"})


@pytest.fixture(scope="module")
def pair() -> Iterator[RegionPair]:
    pair = RegionPair.start(OPTIONS, users=4, seed=11, appconfig=APPCONFIG, fake_config=FAKE_CONFIG)
    yield pair
    pair.stop()


# ---- helpers -----------------------------------------------------------------------------------------------------
def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 30.0, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(every_s)


def settled(pair: RegionPair) -> None:
    """Router answering the primary with both regions healthy (the state every test starts and ends in)."""
    def ready() -> bool:
        status = pair.router_status()
        if status["answer"]["target"] == "secondary" and status["endpoints"]["primary"]["healthy"]:
            httpx.post(pair.router_url + "/_router/failback", timeout=10)
        return status["client_target"] == "primary" and all(
            e["healthy"] and e["checks"] >= 1 for e in status["endpoints"].values())
    wait_for("the router to settle on a healthy primary", ready)


def submit(base_url: str, pair: RegionPair, user: SeededUser, timeout_s: float = 5.0) -> httpx.Response:
    link = user.pairs[0]
    body = {"sourceConnectionId": link.source_connection_id, "destinationConnectionId": link.destination_connection_id,
            "dataType": link.data_type, "mode": "manual"}
    headers = {"Authorization": f"Bearer {pair.stack.minter.mint('firebase', user.user_id)}",
               "Idempotency-Key": uuid.uuid4().hex}
    return httpx.post(base_url + "/v1/sync-jobs", json=body, headers=headers, timeout=timeout_s)


def submit_jobs(base_url: str, pair: RegionPair, count: int) -> list[tuple[str, str]]:
    """``count`` acknowledged manual syncs (one per user in turn): their (user_id, job_id)."""
    users = pair.stack.users
    jobs = []
    for i in range(count):
        user = users[i % len(users)]
        answer = submit(base_url, pair, user)
        assert answer.status_code == 202, answer.text
        jobs.append((user.user_id, str(answer.json()["jobId"])))
    return jobs


def states(pair: RegionPair, region: str, jobs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    assert pair.topology is not None
    return job_states(pair.region_aws_env(region), pair.topology.table, jobs)


def api_answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def dr_acknowledged(pair: RegionPair, user: SeededUser, within_s: float) -> float:
    """When a job submitted through the router was first acknowledged (202) by the DR region."""
    def acknowledged() -> float | None:
        try:   # before the failover the primary answers 503 (or is slow to): not yet
            answer = submit(pair.router_url, pair, user, timeout_s=5)
        except httpx.HTTPError:
            return None
        ok = answer.status_code == 202 and answer.headers.get("x-swsim-region") == pair.options.dr
        return time.time() if ok else None
    return wait_for("a job acknowledged by the DR region through the router", acknowledged, within_s)


def events_since(pair: RegionPair, since: float, kind: str, role: str | None = None) -> list[dict[str, Any]]:
    return [e for e in pair.router_status()["events"]
            if e["t"] >= since and e["kind"] == kind and (role is None or e.get("role") == role)]


def pending(pair: RegionPair, direction: str) -> int:
    return int(pair.replicator_status()["directions"][direction]["pending"])


# ---- the faults --------------------------------------------------------------------------------------------------
def test_region_api_down_fails_over_while_the_region_s_worker_drains_its_queue(pair: RegionPair) -> None:
    o, stack = pair.options, pair.stack
    settled(pair)
    ctx = FaultContext.from_stack(stack, seed=1)
    workers = ctx.require_processes().worker_names()       # the primary's (the DR's are dr-worker...)
    assert workers
    # Work waiting in the primary's queue when its API dies: the workers are held while the jobs are accepted.
    for name in workers:
        stack.pause_process(name)
    try:
        queued = submit_jobs(pair.api_url(o.primary), pair, 4)
        killed = time.time()
        restore = build_fault({"name": "api-down", "type": "region_api_down",
                               "target": {"region": "primary"}}).apply(ctx)
    finally:
        for name in workers:
            stack.resume_process(name)
    try:
        assert not api_answers(pair.api_url(o.primary))
        assert all(stack.process(n).running for n in workers + [f"dr-{n}" for n in ("api", "worker")])

        served_by_dr = dr_acknowledged(pair, stack.users[0], within_s=20)
        unhealthy = events_since(pair, killed, "unhealthy", "primary")
        failover = events_since(pair, killed, "failover")
        assert unhealthy and failover and failover[0]["region"] == o.dr
        detection, rto = unhealthy[0]["t"] - killed, served_by_dr - killed
        # threshold x interval = 0.6 s, plus the check scheduling of a loaded 2-core machine.
        assert 0.2 <= detection <= 6.0, detection
        # The primary's workers drain its queue with its API still dead (they need only the queue and the table).
        finished = wait_for("the queued jobs to finish in the primary region",
                            lambda: (lambda s: s if len(s) == len(queued) and set(s.values()) <= TERMINAL else None)(
                                states(pair, o.primary, queued)), 30, 0.2)
        assert set(finished.values()) == {"SUCCEEDED"}, finished
        assert not api_answers(pair.api_url(o.primary))
        print(f"region_api_down: detection {detection:.2f} s, failover to the DR's first 202 {rto:.2f} s "
              f"(0.2 s checks x 3, TTL 0.3 s); {len(queued)} queued jobs drained by the primary's workers "
              f"{time.time() - killed:.2f} s after the kill, API still down")
    finally:
        restore()
    assert api_answers(pair.api_url(o.primary))
    settled(pair)   # manual failback: the operator's call once the primary's checks pass


def test_region_dynamodb_down_gives_fast_503s_but_shallow_health_checks_keep_passing(pair: RegionPair) -> None:
    o = pair.options
    settled(pair)
    ctx = FaultContext.from_stack(pair.stack, seed=2)
    applied = time.time()
    restore = build_fault({"name": "primary-ddb", "type": "region_dynamodb_down",
                           "target": {"region": "primary"}}).apply(ctx)
    try:
        started = time.monotonic()
        answer = submit(pair.api_url(o.primary), pair, pair.stack.users[1], timeout_s=10)
        took = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert took < 8.0, took   # few retries, short timeouts: a 503 well before the client gives up (10 s)
        # The DR region's DynamoDB is untouched.
        assert submit(pair.api_url(o.dr), pair, pair.stack.users[1]).status_code == 202
        # Design as it is: /health does not touch DynamoDB, so Route 53 keeps answering the primary (no failover)
        # while every write there fails: a DynamoDB-only outage needs the operator (Runbook 3), not the checks.
        checks_before = pair.router_status()["endpoints"]["primary"]["checks"]
        wait_for("five more health checks of the primary",
                 lambda: pair.router_status()["endpoints"]["primary"]["checks"] >= checks_before + 5, 15)
        status = pair.router_status()
        assert status["endpoints"]["primary"]["healthy"] and status["client_target"] == "primary"
        assert not events_since(pair, applied, "failover")
        print(f"region_dynamodb_down: the primary's API answered 503 in {took * 1000:.0f} ms; its health checks "
              f"kept passing ({status['endpoints']['primary']['checks'] - checks_before} checks), no failover")
    finally:
        restore()
    wait_for("the primary's API to write again",
             lambda: submit(pair.api_url(o.primary), pair, pair.stack.users[1]).status_code == 202, 15, 0.2)


def test_region_dynamodb_down_fails_over_when_the_checks_call_the_deep_health(pair: RegionPair) -> None:
    o = pair.options
    settled(pair)
    reconfigure(pair, dataclasses.replace(OPTIONS, check_path="/health/deep"))   # restarts the router
    try:
        settled(pair)
        assert pair.router_status()["check_path"] == "/health/deep"
        started = time.monotonic()
        deep = httpx.get(pair.api_url(o.primary) + "/health/deep", timeout=5)
        deep_ms = (time.monotonic() - started) * 1000
        assert deep.status_code == 200, deep.text
        applied = time.time()
        restore = build_fault({"name": "primary-ddb-deep", "type": "region_dynamodb_down",
                               "target": {"region": "primary"}}).apply(FaultContext.from_stack(pair.stack, seed=3))
        try:
            served_by_dr = dr_acknowledged(pair, pair.stack.users[2], within_s=30)
            unhealthy = events_since(pair, applied, "unhealthy", "primary")
            failover = events_since(pair, applied, "failover")
            assert unhealthy and failover and failover[0]["region"] == o.dr
            assert any("503" in e.get("detail", "") for e in events_since(pair, applied, "check_failed", "primary"))
            status = pair.router_status()
            assert status["endpoints"]["secondary"]["healthy"]    # the DR's own deep check passes
            detection, rto = unhealthy[0]["t"] - applied, served_by_dr - applied
            # threshold x interval = 0.6 s, plus up to the 1 s the API caches its verdict, plus a loaded machine.
            assert detection <= 8.0, detection
        finally:
            restore()
        settled(pair)   # the primary's deep checks pass again; the operator's manual failback
        print(f"region_dynamodb_down with check_path=/health/deep: deep check {deep_ms:.1f} ms when healthy; "
              f"primary unhealthy {detection:.2f} s after the fault, the DR's first 202 through the router "
              f"{rto:.2f} s after it (0.2 s checks x 3, TTL 0.3 s, verdict cached 1 s)")
    finally:
        reconfigure(pair, OPTIONS)
    settled(pair)


def test_replication_pause_queues_writes_both_ways_and_loses_none_after_resume(pair: RegionPair) -> None:
    o = pair.options
    settled(pair)
    forward, backward = f"{o.primary}>{o.dr}", f"{o.dr}>{o.primary}"
    resume = build_fault({"name": "pause", "type": "replication_pause"}).apply(FaultContext.from_stack(pair.stack))
    try:
        before = (pending(pair, forward), pending(pair, backward))
        in_primary = submit_jobs(pair.api_url(o.primary), pair, 5)
        in_dr = submit_jobs(pair.api_url(o.dr), pair, 3)
        # Held for several lags (0.3 s): nothing crossed, everything waits in the replicator's queues.
        time.sleep(OPTIONS.replication_lag_s * 4)   # the pause must hold for longer than the lag to mean anything
        assert states(pair, o.dr, in_primary) == {} and states(pair, o.primary, in_dr) == {}
        piled = (pending(pair, forward), pending(pair, backward))
        assert piled[0] >= before[0] + len(in_primary) and piled[1] >= before[1] + len(in_dr), (before, piled)
        assert pair.replicator_status()["paused"]
    finally:
        resumed = time.time()
        resume()
    wait_for("the paused writes to reach the other region",
             lambda: len(states(pair, o.dr, in_primary)) == len(in_primary)
             and len(states(pair, o.primary, in_dr)) == len(in_dr), 30, 0.1)
    caught_up = time.time() - resumed
    wait_for("the replication queues to drain", lambda: pending(pair, forward) == 0 == pending(pair, backward), 30)
    print(f"replication_pause: {piled[0]} + {piled[1]} changes queued ({len(in_primary)} + {len(in_dr)} jobs); "
          f"all jobs in both tables {caught_up:.2f} s after resume (lag {OPTIONS.replication_lag_s} s)")


def test_dr_region_outage_stops_its_replication_and_it_catches_up_when_back(pair: RegionPair) -> None:
    o, stack = pair.options, pair.stack
    assert pair.topology is not None
    settled(pair)
    dr_processes = pair.topology.processes[o.dr]
    forward = f"{o.primary}>{o.dr}"
    killed = time.time()
    restore = build_fault({"name": "dr-down", "type": "region_outage", "target": {"region": "dr"}}).apply(
        FaultContext.from_stack(stack, seed=4))
    try:
        assert not any(stack.process(n).running for n in dr_processes)
        assert o.dr in pair.replicator_status()["down"]
        # The primary serves alone (the router still answers it) and its writes wait for the DR region.
        written = submit_jobs(pair.router_url, pair, 4)
        wait_for("the router to mark the DR region unhealthy",
                 lambda: events_since(pair, killed, "unhealthy", "secondary"), 15)
        assert pair.router_status()["client_target"] == "primary"
        time.sleep(OPTIONS.replication_lag_s * 3)   # longer than the lag: a live region would have them by now
        assert states(pair, o.dr, written) == {}
        assert pending(pair, forward) >= len(written)
    finally:
        back = time.monotonic()
        restore()
    restarted = time.monotonic() - back
    assert all(stack.process(n).running for n in dr_processes)
    assert api_answers(pair.api_url(o.dr))
    wait_for("the DR region to receive the writes made while it was down",
             lambda: len(states(pair, o.dr, written)) == len(written), 30, 0.1)
    drained = time.monotonic() - back
    settled(pair)
    print(f"region_outage (dr): {len(dr_processes)} processes restarted in {restarted:.2f} s; the "
          f"{len(written)} jobs written meanwhile reached it {drained:.2f} s after its return")


def test_a_dr_process_restarted_from_the_state_file_runs_in_its_own_region(pair: RegionPair) -> None:
    # A fault driven from the state file (another process's pair, e.g. 'swsim region up'): the restart must give
    # the DR API the DR's environment (region, capture listener, Redis), not the state's service_env (the primary's).
    o, stack, topology = pair.options, pair.stack, pair.topology
    assert topology is not None
    settled(pair)
    ctx = FaultContext.from_state(stack.state_file, seed=5)
    processes = ctx.require_processes()
    restore = build_fault({"name": "dr-api-down", "type": "region_api_down", "target": {"region": "dr"}}).apply(ctx)
    assert not api_answers(pair.api_url(o.dr))
    restarted_at = time.monotonic()
    restore()
    pid = processes.pid("dr-api")
    try:
        wait_for("the DR API back on its port", lambda: api_answers(pair.api_url(o.dr)), 30, 0.1)
        took = time.monotonic() - restarted_at
        assert pid is not None
        environ = dict(entry.split("=", 1) for entry in
                       Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in entry)
        assert (environ["AWS_REGION"], environ["AWS_DEFAULT_REGION"]) == (o.dr, o.dr)
        assert environ["AWS_ENDPOINT_URL_DYNAMODB"] == topology.capture_urls[o.dr]
        assert environ["SYNCWELL_REDIS_URL"] == topology.redis_urls[o.dr]
        # Behaviour: its writes land in the DR's own table at once and replicate to the primary (via its capture).
        jobs = submit_jobs(pair.api_url(o.dr), pair, 2)
        assert len(states(pair, o.dr, jobs)) == len(jobs)
        wait_for("the restarted DR API's writes to replicate to the primary",
                 lambda: len(states(pair, o.primary, jobs)) == len(jobs), 30, 0.1)
        print(f"state-file restart of dr-api: back in {took:.2f} s on its port, region {environ['AWS_REGION']}, "
              f"its writes replicated to {o.primary}")
    finally:
        # The restarted process is this test's child, not the pair's: hand the DR API back to the pair.
        if pid is not None and processes.running("dr-api"):
            os.killpg(pid, signal.SIGKILL)
            wait_for("the state-file restart to exit", lambda: not processes.running("dr-api"), 10)
        stack.restart_process("dr-api")
    settled(pair)
