"""The region-outage rehearsal (issue 8): Nominal load through the router, the primary region killed, then
detection, RTO, RPO, the fate of the jobs caught in the dead region, failback, and every figure against the seeds.

    result = run_rehearsal(load_plan(Path("scenarios/chaos/gamedays/region-outage.yaml"), short=True), out_dir)
    result.exit_code      # 0: every invariant held; 1: one failed (result.invariants say which and why)

Definitions (times on the rehearsal's clock, ``time.time()``):
- detection: kill -> the router marks the primary unhealthy (Route 53: ``failure_threshold`` failed checks);
- RTO: kill -> the first sync job acknowledged by the DR region through the router (detection + the DNS TTL in
  clients' caches + the DR region answering);
- RPO: the jobs acknowledged by the primary (202) that the DR table lacks when the primary dies: their count and
  window (kill time - the oldest lost acknowledgement), i.e. writes younger than the replication lag;
- stranded jobs: jobs the primary had acknowledged and not finished at the kill (their messages sit in the dead
  region's queue): what became of them once the region was back;
- failback: the primary back -> its health checks pass -> the record fails back (automatically, or by the
  operator's call under the manual policy) -> the first job acknowledged by the primary again.
A fast rehearsal runs Route 53's clock faster (``time_scale`` = 30 s / check interval); the production-equivalent
RTO scales the detection and DNS parts back (the DR region's own answer time is not scaled). Replication lag is
real time in both, so the RPO is compared as measured.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from stack import schema
from stack.config import PROVIDERS
from stack.faults import FaultContext, build_fault
from stack.region.health import DEFAULT_INTERVAL_S, DEFAULT_TTL_S
from stack.region.load import Attempt, RequestRecord, RouterTraffic, TrafficSpec
from stack.region.pair import RegionPair, reconfigure
from stack.region.plan import RehearsalPlan
from stack.region.tables import divergence, job_states, table_digest
from stack.region.targets import FAILBACK_POLICIES, SEED_003_PHASES_S, compare

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "DEAD_LETTERED"})
FAILED_STATES = ("FAILED", "DEAD_LETTERED")
APPCONFIG: dict[str, Any] = {"coalescer": {"delay_s": 2},
                             "worker": {"backoff_base_s": 0.5, "backoff_cap_s": 20, "visibility_timeout_s": 10}}
# Light payloads so jobs finish in milliseconds, but not below ~50 KB: the fake Fitbit sizes a GPS TCX from a
# per-sample cost and a fixed overhead learned on its first workout (laps: up to 50), and a target close to that
# overhead (~10 KB) makes its correction step explode (at 20 KB, 41 of 102 TCX bodies over 40 KB, up to 88 MB:
# the workers spent minutes parsing one, their leases ran out, jobs piled up QUEUED and went to the DLQ).
FAKE_CONFIG: dict[str, Any] = {"history_days": 3, "heavy_bytes": 50_000,
                               "providers": {p: {"rate_limits": {"enabled": False}}
                                             for p in ("strava", "fitbit", "garmin")}}
DETECTION_SLACK_S = 4.0      # scheduling delays of the checks on a loaded 2-core machine (load average 20+)
RPO_SLACK_S = 1.0
PHASE_GRACE_S = 30.0         # how much longer a phase may wait for its region's first acknowledged write


def start_pair(plan: RehearsalPlan) -> RegionPair:
    """The pair a rehearsal runs on (light users so jobs finish in seconds, provider rate limits off)."""
    return RegionPair.start(plan.region, users=plan.users, seed=plan.seed, appconfig=APPCONFIG,
                            fake_config=FAKE_CONFIG)


@dataclass
class Invariant:
    name: str
    holds: bool
    detail: str


@dataclass
class RehearsalResult:
    plan: dict[str, Any]
    timeline: dict[str, float | None]
    figures: dict[str, Any]
    seeds: list[dict[str, Any]]
    invariants: list[Invariant]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    router_events: list[dict[str, Any]] = field(default_factory=list)
    replication: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if all(i.holds for i in self.invariants) else 1

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["exit_code"] = self.exit_code
        return out


def run_rehearsal(plan: RehearsalPlan, out_dir: Path | None = None, pair: RegionPair | None = None,
                  log: Callable[[str], None] = lambda _: None) -> RehearsalResult:
    """Run the plan on ``pair`` (reconfigured to the plan) or on a pair of its own; write the report if
    ``out_dir``."""
    own = pair is None
    if pair is None:
        log("starting the two regions ...")
        pair = start_pair(plan)
    else:
        reconfigure(pair, plan.region)
    try:
        result = _rehearse(plan, pair, log)
    finally:
        if own:
            pair.stop()
    if out_dir is not None:
        from stack.region.report import write_report

        write_report(result, out_dir)
    return result


def _rehearse(plan: RehearsalPlan, pair: RegionPair, log: Callable[[str], None]) -> RehearsalResult:
    o = pair.options
    primary_env, dr_env = pair.region_aws_env(o.primary), pair.region_aws_env(o.dr)
    table = pair.topology.table if pair.topology else "SyncWellMetadata"
    _wait_router_on_primary(pair)
    pair.rehearsals += 1  # a second run on the same pair with the same keys would only replay the first's jobs
    # Another seed per run: the scenarios' Idempotency-Keys follow from the schedule.
    spec = TrafficSpec(plan.model, plan.dau, plan.compress, plan.locust_users, plan.seed * 1000 + pair.rehearsals,
                       tuple(plan.kinds))
    fakes = {p: pair.stack.fake_url(p) for p in PROVIDERS if f"fake-{p}" in pair.stack.endpoints}
    load = RouterTraffic(pair.router_url, pair.stack.users, pair.stack.minter, fakes, spec,
                         plan.nominal_s + plan.outage_s + plan.after_s,
                         pair.stack.state_dir / f"region-load-{pair.rehearsals}")
    log(f"{plan.model} load (DAU {plan.dau}, x{plan.compress:g}, {load.scheduled} requests scheduled at most) "
        f"through the router; {plan.nominal_s:g} s before the fault")
    load.start()
    try:
        t: dict[str, float | None] = {"load_started": time.time()}
        time.sleep(plan.nominal_s)

        fault = build_fault(plan.fault)
        ctx = FaultContext.from_stack(pair.stack, seed=plan.seed)
        t["killed"] = time.time()
        rollback = fault.apply(ctx)
        t["dead"] = time.time()
        log(f"{fault.spec.type} applied ({fault.spec.name})")
        at_kill = [a for a in load.attempts() if a.acknowledged and a.region == o.primary]
        keys = [(a.user_id, str(a.job_id)) for a in at_kill]
        in_dr = job_states(dr_env, table, keys)
        in_primary = job_states(primary_env, table, keys)
        replication_at_kill = pair.replicator_status()
        unreplicated = _unreplicated_writes(pair)
        lost = [a for a in at_kill if (a.user_id, a.job_id) not in in_dr]
        stranded = [k for k in keys if in_primary.get(k) not in TERMINAL]

        # The model's writes are sparse (a few per second): the outage lasts outage_s and until the DR region has
        # acknowledged one (the RTO's event), at most PHASE_GRACE_S longer.
        _wait_acknowledged(load, o.dr, float(t["killed"]), float(t["killed"]) + plan.outage_s)
        t["recovery_started"] = time.time()
        rollback()
        t["recovered"] = time.time()
        log("primary region back")
        if o.failback == "manual":
            t["manual_failback"] = _operator_failback(pair, plan)
        _wait_acknowledged(load, o.primary, float(t["recovered"]), float(t["recovered"]) + plan.after_s)
        t["load_stopped"] = time.time()
        attempts = load.stop()
        requests = load.requests()
        log("load stopped; draining replication and stranded jobs")

        deadline = time.time() + plan.drain_s
        replication_end = _wait_replication_drained(pair, deadline)
        t["replication_drained"] = time.time() if _pending(replication_end) == 0 else None
        stranded_end = _wait_terminal(primary_env, table, stranded, deadline)
        acked = [(a.user_id, str(a.job_id)) for a in attempts if a.acknowledged]
        final_primary = job_states(primary_env, table, acked)
        final_dr = job_states(dr_env, table, acked)
        diverged = _converged_tables(primary_env, dr_env, table, pair.options.replication_lag_s + 1.5)
        router = pair.router_status()

        events = router.get("events", [])
        figures = _figures(plan, pair, t, attempts, events, lost, stranded, stranded_end, final_primary, final_dr,
                           diverged, replication_at_kill, unreplicated)
        figures["values"].update(_traffic_figures(pair, t, requests, attempts))
        figures["values"]["load_engine"] = _engine_summary(load)
        figures["values"]["worker_counters"] = _worker_counters(pair)
        timeline = {**t, **{k: figures["timeline"][k] for k in figures["timeline"]}}
        invariants = _invariants(plan, figures)
        base = float(t["load_started"] or 0.0)
        return RehearsalResult(
            plan=_plan_dict(plan, pair), timeline={k: (None if v is None else round(v - base, 3))
                                                   for k, v in timeline.items()},
            figures=figures["values"], seeds=compare(figures["values"]["rto_production_equivalent_s"],
                                                     figures["values"]["rpo_window_s"]),
            invariants=invariants,
            attempts=[{**dataclasses.asdict(a), "sent": round(a.sent - base, 3), "done": round(a.done - base, 3)}
                      for a in attempts],
            router_events=[{**e, "t": round(e["t"] - base, 3)} for e in events if e["t"] >= base],
            replication={"at_kill": replication_at_kill, "at_end": replication_end})
    finally:
        load.stop()  # idempotent; on an error it ends the Locust process too


def _unreplicated_writes(pair: RegionPair) -> dict[tuple[str, str], float]:
    """(PK, SK) -> write time of every primary write not yet replicated to the DR region (the oldest per item)."""
    o = pair.options
    answer = httpx.get(pair.replicator_url + "/pending", params={"direction": f"{o.primary}>{o.dr}"}, timeout=10)
    answer.raise_for_status()
    out: dict[tuple[str, str], float] = {}
    for row in answer.json()["pending"]:
        key = (row["pk"], row["sk"])
        out[key] = min(out.get(key, row["ts"]), row["ts"])
    return out


# ---- waiting ---------------------------------------------------------------------------------------------------
def _wait_router_on_primary(pair: RegionPair, timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = pair.router_status()
        healthy = all(e["healthy"] and e["checks"] >= 1 for e in status["endpoints"].values())
        if status["client_target"] == "primary" and healthy:
            return
        if status["answer"]["target"] == "secondary" and status["endpoints"]["primary"]["healthy"]:
            httpx.post(pair.router_url + "/_router/failback", timeout=10)
        time.sleep(0.1)
    raise RuntimeError("the router did not settle on a healthy primary")


def _operator_failback(pair: RegionPair, plan: RehearsalPlan) -> float | None:
    """Runbook 2 step 5: once the primary passes its health checks, the operator fails back."""
    r = plan.region
    deadline = time.time() + r.failure_threshold * r.check_interval_s * 3 + r.check_timeout_s + 30
    while time.time() < deadline:
        status = pair.router_status()
        if status["endpoints"]["primary"]["healthy"]:
            if status["answer"]["target"] == "secondary":
                httpx.post(pair.router_url + "/_router/failback", timeout=10)
            return time.time()
        time.sleep(min(0.1, r.check_interval_s / 2))
    return None


def _wait_acknowledged(load: RouterTraffic, region: str, since: float, until: float) -> None:
    """Until ``until``, and then until ``region`` has acknowledged a job sent after ``since`` (or the grace ends:
    the invariants then say what did not happen)."""
    time.sleep(max(0.0, until - time.time()))
    while time.time() < until + PHASE_GRACE_S:
        if any(a.acknowledged and a.region == region and a.sent >= since for a in load.attempts()):
            return
        time.sleep(0.2)


def _pending(status: dict[str, Any]) -> int:
    return sum(int(d["pending"]) for d in status.get("directions", {}).values())


def _wait_replication_drained(pair: RegionPair, deadline: float) -> dict[str, Any]:
    while True:
        status = pair.replicator_status()
        if _pending(status) == 0 or time.time() > deadline:
            return status
        time.sleep(0.1)


def _wait_terminal(env: dict[str, str], table: str, keys: list[tuple[str, str]],
                   deadline: float) -> dict[tuple[str, str], str]:
    while True:
        states = job_states(env, table, keys)
        if all(states.get(k) in TERMINAL for k in keys) or time.time() > deadline:
            return states
        time.sleep(0.3)


def _converged_tables(a_env: dict[str, str], b_env: dict[str, str], table: str, settle_s: float) -> list[Any]:
    """Keys that differ between the regions and stay so: two scans ``settle_s`` apart (the services still write,
    so an item caught between a write and its replication differs in one scan only)."""
    a1, b1 = table_digest(a_env, table), table_digest(b_env, table)
    first = divergence(a1, b1)
    if not first:
        return []
    time.sleep(settle_s)
    a2, b2 = table_digest(a_env, table), table_digest(b_env, table)
    lasting = [k for k in divergence(a2, b2) if k in set(first) and a1.get(k) == a2.get(k) and b1.get(k) == b2.get(k)]
    return [{"key": list(k), "a": a2.get(k), "b": b2.get(k)} for k in lasting]


# ---- figures ---------------------------------------------------------------------------------------------------
def _first(events: list[dict[str, Any]], kind: str, after: float, **match: Any) -> float | None:
    for event in events:
        if event["kind"] == kind and event["t"] >= after and all(event.get(k) == v for k, v in match.items()):
            return float(event["t"])
    return None


def _figures(plan: RehearsalPlan, pair: RegionPair, t: dict[str, float | None], attempts: list[Attempt],
             events: list[dict[str, Any]], lost: list[Attempt], stranded: list[tuple[str, str]],
             stranded_end: dict[tuple[str, str], str], final_primary: dict[Any, str], final_dr: dict[Any, str],
             diverged: list[Any], replication_at_kill: dict[str, Any],
             unreplicated: dict[tuple[str, str], float]) -> dict[str, Any]:
    o = pair.options
    killed, recovered = float(t["killed"] or 0), float(t["recovery_started"] or 0)
    detected = _first(events, "unhealthy", killed, role="primary")
    failover = _first(events, "failover", killed)
    clients_switched = None if failover is None else failover + o.dns_ttl_s
    dr_acks = [a for a in attempts if a.acknowledged and a.region == o.dr and a.sent >= killed]
    first_dr_ok = min((a.done for a in dr_acks), default=None)
    primary_healthy_again = _first(events, "healthy", recovered, role="primary")
    failback = _first(events, "failback", recovered)
    back_acks = [a for a in attempts if a.acknowledged and a.region == o.primary and a.sent >= recovered]
    first_primary_ok_after = min((a.done for a in back_acks), default=None)
    last_primary_ok_before = max((a.done for a in attempts if a.acknowledged and a.region == o.primary
                                  and a.done <= killed), default=None)
    outage_window = [a for a in attempts if killed <= a.sent <= (first_dr_ok or killed)]
    acked = [(a.user_id, str(a.job_id)) for a in attempts if a.acknowledged]
    missing_after = [k for k in acked if k not in final_primary or k not in final_dr]
    # Each acknowledged job's state at the end in the region that acknowledged it (its copy elsewhere may lag):
    # a failover must not turn jobs into failures (e.g. a restarted region's workers failing every job).
    final_by_region = {o.primary: final_primary, o.dr: final_dr}
    acked_states: dict[str, dict[str, int]] = {}
    for a in attempts:
        if a.acknowledged and a.region in final_by_region:
            state = final_by_region[a.region].get((a.user_id, str(a.job_id)), "MISSING")
            region_states = acked_states.setdefault(a.region, {})
            region_states[state] = region_states.get(state, 0) + 1
    dr_jobs = [(a.user_id, str(a.job_id)) for a in dr_acks]

    def span(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 3)

    detection_s = span(killed, detected)
    rto_s = span(killed, first_dr_ok)
    dns_s = span(detected, clients_switched)
    serve_s = span(clients_switched, first_dr_ok) if clients_switched else None
    scale_check = DEFAULT_INTERVAL_S / o.check_interval_s
    scale_ttl = DEFAULT_TTL_S / o.dns_ttl_s if o.dns_ttl_s > 0 else None
    rto_equiv = None
    if detection_s is not None and dns_s is not None and serve_s is not None:
        dns_equiv = dns_s * scale_ttl if scale_ttl is not None else DEFAULT_TTL_S
        rto_equiv = round(detection_s * scale_check + dns_equiv + max(0.0, serve_s), 3)
    # A lost job's age is counted from when its item was written in the primary (the replicator's capture time),
    # not from the client's 202, which comes later by the API's own latency.
    # Replication from the region stops first (the fault marks it down, then kills its processes): ages count
    # from then; a write the dying API made after it is 0 s old.
    written = [unreplicated.get((schema.user_pk(a.user_id), schema.job_sk(str(a.job_id))), a.done) for a in lost]
    lost_ages = [max(0.0, killed - w) for w in written]
    east_west = replication_at_kill["directions"].get(f"{o.primary}>{o.dr}", {})
    values: dict[str, Any] = {
        "detection_s": detection_s,
        "detection_production_equivalent_s": None if detection_s is None else round(detection_s * scale_check, 3),
        "dns_propagation_s": dns_s, "dr_first_answer_after_switch_s": serve_s,
        "rto_s": rto_s, "rto_production_equivalent_s": rto_equiv,
        "time_scale_checks": round(scale_check, 3), "time_scale_ttl": None if scale_ttl is None else round(scale_ttl, 3),
        "failed_requests_during_outage": sum(1 for a in outage_window if not a.acknowledged),
        "requests_during_outage": len(outage_window),
        "availability_gap_s": span(last_primary_ok_before, first_dr_ok),
        "rpo_lost_writes": len(lost),
        "rpo_window_s": round(max(lost_ages), 3) if lost_ages else 0.0,
        "rpo_newest_lost_age_s": round(min(lost_ages), 3) if lost_ages else None,
        "acknowledged_by_primary_before_kill": len([a for a in attempts if a.acknowledged and a.region == o.primary
                                                    and a.done <= killed]),
        "unreplicated_items_at_kill": len(unreplicated),
        "replication_pending_at_kill": east_west.get("pending"),
        "replication_oldest_pending_age_at_kill_s": east_west.get("oldest_pending_age_s"),
        "replication_latency_p50_s": east_west.get("latency_p50_s"),
        "replication_latency_p99_s": east_west.get("latency_p99_s"),
        "stranded_jobs": len(stranded),
        "stranded_finished_after_recovery": sum(1 for k in stranded if stranded_end.get(k) in TERMINAL),
        "stranded_states_at_end": _count(stranded_end.get(k, "MISSING") for k in stranded),
        "dr_acknowledged_jobs": len(dr_jobs),
        "dr_jobs_states_at_end": _count(final_dr.get(k, "MISSING") for k in dr_jobs),
        "dr_jobs_in_primary_after_failback": sum(1 for k in dr_jobs if k in final_primary),
        "acknowledged_total": len(acked),
        "acknowledged_missing_after_recovery": len(missing_after),
        "acknowledged_states_at_end": {r: dict(sorted(c.items())) for r, c in sorted(acked_states.items())},
        "acknowledged_failed": sum(c.get(k, 0) for c in acked_states.values() for k in FAILED_STATES),
        "tables_diverging_items": len(diverged),
        "diverging_examples": diverged[:3],
        "primary_healthy_again_after_recovery_s": span(recovered, primary_healthy_again),
        "failback_after_recovery_s": span(recovered, failback),
        "first_primary_ack_after_recovery_s": span(recovered, first_primary_ok_after),
        "failback_policy": o.failback,
        "failback_matches_seeds": [s for s, (policy, _) in FAILBACK_POLICIES.items() if policy == o.failback],
        "seed_003_phases_s": SEED_003_PHASES_S,
        "replication_lag_s": o.replication_lag_s, "check_interval_s": o.check_interval_s,
        "failure_threshold": o.failure_threshold, "dns_ttl_s": o.dns_ttl_s,
    }
    timeline = {"detected": detected, "failover": failover, "clients_switched": clients_switched,
                "first_dr_ack": first_dr_ok, "primary_healthy_again": primary_healthy_again,
                "failback": failback, "first_primary_ack_after_recovery": first_primary_ok_after}
    return {"values": values, "timeline": timeline}


def _traffic_figures(pair: RegionPair, t: dict[str, float | None], requests: list[RequestRecord],
                     attempts: list[Attempt]) -> dict[str, Any]:
    """The whole mix through the router, per phase: requests, failed (no answer or 5xx: a dead region behind a
    cached answer is a 502), which region answered; and the sync-job submissions among them."""
    o = pair.options
    edges = [("nominal", t["load_started"]), ("outage", t["killed"]), ("recovery", t["recovery_started"]),
             ("end", t["load_stopped"])]
    phases: dict[str, dict[str, Any]] = {}
    routed = [r for r in requests if r.through_router]
    for index, ((name, start), (_, end)) in enumerate(zip(edges, edges[1:])):
        lo, hi = float(start or 0), float(end or 0)
        # The first phase takes what was sent while the load started, the last what was in flight at its stop.
        first, last = index == 0, index == len(edges) - 2
        inside = [r for r in routed if (first or lo <= r.sent) and (last or r.sent < hi)]
        submitted = [a for a in attempts if (first or lo <= a.sent) and (last or a.sent < hi)]
        failed = sum(1 for r in inside if r.failed)
        phases[name] = {
            "seconds": round(hi - lo, 3), "requests": len(inside), "failed": failed,
            "error_rate": round(failed / len(inside), 4) if inside else None,
            "by_region": _count(r.region or "none" for r in inside),
            "by_status": _count(str(r.status) for r in inside),
            "sync_jobs_submitted": len(submitted),
            "sync_jobs_acknowledged": _count(a.region or "none" for a in submitted if a.acknowledged)}
    killed = float(t["killed"] or 0)
    first_dr_answer = min((r.done for r in routed if r.region == o.dr and r.sent >= killed and 200 <= r.status < 300),
                          default=None)
    return {
        "load_requests_by_endpoint": _count(r.name for r in requests),
        "load_requests_by_phase": phases,
        "first_dr_success_any_request_s": None if first_dr_answer is None else round(first_dr_answer - killed, 3),
        "acknowledged_by_region": _count(a.region or "none" for a in attempts if a.acknowledged)}


def _engine_summary(load: RouterTraffic) -> dict[str, Any] | None:
    """The Locust engine's own account (scheduled requests it fired, late starts: the generator kept up?)."""
    result = load.result
    if result is None:
        return None
    totals = result.recorder.totals()
    return {"requests": totals.requests, "errors": totals.errors, "late_starts": totals.late_starts,
            "not_started": result.recorder.not_started, "notes": list(result.info.notes)}


WORKER_COUNTERS = ("received", "succeeded", "throttled_delays", "busy_locks", "deferred_late_jobs", "retried",
                   "failed", "dead_lettered", "token_refreshes", "third_party_calls")


def _worker_counters(pair: RegionPair) -> dict[str, dict[str, int]]:
    """Each region's workers' own counters at the end (the primary's since its restart): why jobs waited, e.g.
    token-bucket or provider throttling (``throttled_delays``), leases too short (``deferred_late_jobs``)."""
    topology = pair.topology
    out: dict[str, dict[str, int]] = {}
    if topology is None:
        return out
    for region, names in topology.processes.items():
        totals = dict.fromkeys(WORKER_COUNTERS, 0)
        for name in (n for n in names if "worker" in n):
            url = pair.stack.health_url(name)
            try:
                counters = httpx.get(str(url), timeout=5).json().get("counters", {}) if url else {}
            except (httpx.HTTPError, ValueError):
                continue  # a worker that does not answer adds nothing; the others still count
            for key in WORKER_COUNTERS:
                totals[key] += int(counters.get(key, 0))
        out[region] = totals
    return out


def _count(states: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for state in states:
        out[state] = out.get(state, 0) + 1
    return dict(sorted(out.items()))


def _invariants(plan: RehearsalPlan, f: dict[str, Any]) -> list[Invariant]:
    f = f["values"]
    r = plan.region
    bound = r.failure_threshold * r.check_interval_s + r.check_timeout_s + DETECTION_SLACK_S
    rpo_bound = r.replication_lag_s + r.replication_jitter_s + RPO_SLACK_S
    return [
        Invariant("dr_serves_after_failover", f["rto_s"] is not None,
                  f"first job acknowledged by the DR region {f['rto_s']} s after the kill"
                  if f["rto_s"] is not None else "the DR region never acknowledged a job"),
        Invariant("detection_within_health_check_bound", f["detection_s"] is not None and f["detection_s"] <= bound,
                  f"detection {f['detection_s']} s; bound threshold x interval + timeout + slack = {bound:g} s"),
        Invariant("lost_writes_only_within_replication_lag", f["rpo_window_s"] <= rpo_bound,
                  f"{f['rpo_lost_writes']} acknowledged write(s) missing in the DR table at the kill, the oldest "
                  f"{f['rpo_window_s']} s old; bound lag + jitter + {RPO_SLACK_S:g} s = {rpo_bound:g} s"),
        Invariant("no_acknowledged_write_lost_after_recovery", f["acknowledged_missing_after_recovery"] == 0,
                  f"{f['acknowledged_missing_after_recovery']} of {f['acknowledged_total']} acknowledged jobs "
                  f"missing in a region's table after failback and replication drained"),
        Invariant("stranded_jobs_finish_after_recovery", f["stranded_finished_after_recovery"] == f["stranded_jobs"],
                  f"{f['stranded_finished_after_recovery']} of {f['stranded_jobs']} jobs caught in the dead region "
                  f"finished once it was back: {f['stranded_states_at_end']}"
                  + ("" if f["stranded_finished_after_recovery"] == f["stranded_jobs"]
                     else f"; workers' counters {f.get('worker_counters')}")),
        Invariant("no_acknowledged_job_failed", f["acknowledged_failed"] == 0,
                  f"{f['acknowledged_failed']} acknowledged job(s) FAILED or DEAD_LETTERED; states at the end by the "
                  f"region that acknowledged them: {f['acknowledged_states_at_end']}"
                  + ("" if f["acknowledged_failed"] == 0 else f"; workers' counters {f.get('worker_counters')}")),
        Invariant("failback_completed", f["first_primary_ack_after_recovery_s"] is not None,
                  f"primary acknowledged again {f['first_primary_ack_after_recovery_s']} s after recovery "
                  f"({f['failback_policy']} failback)"),
        Invariant("tables_converge", f["tables_diverging_items"] == 0,
                  f"{f['tables_diverging_items']} item(s) differ between the regions after drain "
                  f"{f['diverging_examples']}"),
    ]


def _plan_dict(plan: RehearsalPlan, pair: RegionPair) -> dict[str, Any]:
    out = dataclasses.asdict(plan)
    out["region"] = dataclasses.asdict(pair.options)
    out["fault"] = dict(plan.fault)
    out["time_scale"] = plan.time_scale
    return out


def dumps(result: RehearsalResult) -> str:
    return json.dumps(result.to_json(), indent=2, default=str)
