"""Invariants checked once the load has drained: pure functions over what was observed (:class:`Evidence`).

The evidence is collected once at the end (JOB# items, the DLQ read once, the fakes' writes, the samples) so
the checks never disturb each other (reading the DLQ bumps its messages' receive counts).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from reports import histogram as hdr
from reports.recorder import LatencyRecorder, OutcomeCounts
from sim.chaos.observe import Series, value_at
from sim.chaos.probes import is_api_endpoint

MAX_RECEIVE_COUNT = 5  # the hot-path queue's redrive policy (seed 001: DLQ after 5 receives)
THROTTLE_WORDS = ("throttl", "429", "rate_limit", "ratelimit", "rate limit", "no_token", "notoken",
                  "redis_unavailable", "token bucket")


@dataclass(frozen=True)
class FaultRecord:
    """One method step as it really happened on the experiment clock."""

    name: str
    type: str
    planned_start_s: float
    planned_end_s: float | None
    applied_at_s: float | None = None
    rolled_back_at_s: float | None = None
    error: str | None = None

    @property
    def window(self) -> tuple[float, float] | None:
        if self.applied_at_s is None:
            return None
        end = self.rolled_back_at_s if self.rolled_back_at_s is not None else self.planned_end_s
        return self.applied_at_s, end if end is not None else self.applied_at_s

    def to_wire(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class DeadLetter:
    job_id: str | None
    receives: int  # receives on the hot-path queue before SQS moved it to the DLQ
    body: Mapping[str, Any]
    reason: str = ""  # what the DLQ consumer recorded on the job


@dataclass
class Evidence:
    accepted: list[tuple[str, str]]                    # (userId, jobId) the API answered 202 for
    jobs: dict[str, dict[str, Any]]                    # jobId -> JOB# item
    dead_letters: list[DeadLetter]
    writes: list[dict[str, Any]]                       # the fakes' /_fake/writes entries (with "provider")
    series: Series
    recorder: LatencyRecorder
    faults: list[FaultRecord]
    drained: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def fault(self, name: str) -> FaultRecord:
        for record in self.faults:
            if record.name == name:
                return record
        raise KeyError(name)


@dataclass(frozen=True)
class InvariantResult:
    check: str
    passed: bool
    detail: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail, "figures": dict(self.figures)}


Check = Callable[[Evidence, Mapping[str, Any]], InvariantResult]


def ledger(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """Every accepted job is SUCCEEDED, or in the DLQ with a reason (JOB# item FAILED/DEAD_LETTERED with its
    ``error``; a job whose last receive was refused as busy reaches the DLQ still marked FAILED): none lost."""
    dlq_ids = {d.job_id for d in evidence.dead_letters}
    statuses: Counter[str] = Counter()
    lost: list[str] = []
    for _, job_id in evidence.accepted:
        item = evidence.jobs.get(job_id)
        status = str(item.get("status")) if item else "MISSING"
        if status == "SUCCEEDED":
            statuses["SUCCEEDED"] += 1
        elif job_id in dlq_ids and item and item.get("error"):  # FAILED or DEAD_LETTERED, with its reason
            statuses["DLQ"] += 1
        else:
            statuses[f"lost:{status}{'' if job_id not in dlq_ids else '+in DLQ without reason'}"] += 1
            lost.append(job_id)
    unexplained = sum(n for k, n in statuses.items() if k.startswith("lost") and k.endswith("without reason"))
    figures = {"accepted": len(evidence.accepted), "succeeded": statuses["SUCCEEDED"], "dead_lettered": statuses["DLQ"],
               "lost": len(lost), "in_dlq_without_reason": unexplained, "nowhere": len(lost) - unexplained,
               "lost_examples": lost[:5], "drained": evidence.drained, "by_status": dict(statuses)}
    if not evidence.accepted:
        return InvariantResult("ledger", False, "no job was accepted: the experiment measured nothing", figures)
    if lost:
        detail = (f"{len(lost)} of {len(evidence.accepted)} accepted jobs are neither SUCCEEDED nor in the DLQ with a "
                  f"reason ({', '.join(f'{k}: {v}' for k, v in statuses.items() if k.startswith('lost'))}); "
                  f"e.g. {lost[:3]}" + ("" if evidence.drained else " - the queue did not drain in time"))
        return InvariantResult("ledger", False, detail, figures)
    return InvariantResult("ledger", True, f"all {len(evidence.accepted)} accepted jobs accounted for: "
                           f"{statuses['SUCCEEDED']} SUCCEEDED, {statuses['DLQ']} in the DLQ with a reason", figures)


def no_duplicate_writes(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """No destination received the same payload (identity = normalized payload + external id) twice."""
    seen: Counter[tuple[str, str, str]] = Counter()
    mine: set[tuple[str, str, str]] = set()  # written during this experiment (every write when unmarked)
    for write in evidence.writes:
        key = (str(write.get("provider")), str(write.get("user_id")), str(write.get("identity")))
        seen[key] += 1
        if write.get("mine", True):
            mine.add(key)
    duplicates = {key: n for key, n in seen.items() if n > 1 and key in mine}
    figures = {"writes": sum(1 for w in evidence.writes if w.get("mine", True)), "distinct": len(mine),
               "duplicated": len(duplicates),
               "examples": [f"{p}/{u}/{i[:12]} x{n}" for (p, u, i), n in list(duplicates.items())[:5]]}
    if duplicates:
        return InvariantResult("no_duplicate_writes", False, f"{len(duplicates)} payloads were written more than once "
                               f"to a destination (of {len(mine)} distinct); e.g. {figures['examples'][:3]}", figures)
    return InvariantResult("no_duplicate_writes", True, f"{figures['writes']} destination writes, each once",
                           figures)


def no_third_party_calls_during(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """While the named fault is active (after ``grace_s`` for calls already in flight), the fakes served nothing."""
    record = evidence.fault(str(params["fault"]))
    grace = float(params.get("grace_s", 1.0))
    window = record.window
    if window is None:
        return InvariantResult("no_third_party_calls_during", False, f"fault {record.name!r} was never applied "
                               f"({record.error or 'no reason recorded'})")
    start, end = window[0] + grace, window[1]
    series = evidence.series.get("third_party_calls", [])
    inside = [(t, v) for t, v in series if start <= t <= end]
    figures: dict[str, Any] = {"window_s": [round(start, 2), round(end, 2)], "samples": len(inside)}
    if len(inside) < 2:
        return InvariantResult("no_third_party_calls_during", False, f"too few samples of the fakes' counters in "
                               f"{start:.1f}-{end:.1f} s to judge ({len(inside)})", figures)
    calls = inside[-1][1] - inside[0][1]
    before = value_at(series, window[0])
    figures.update(calls=calls, total_before=before)
    if calls > 0:
        return InvariantResult("no_third_party_calls_during", False, f"{calls:g} third-party calls between "
                               f"{start:.1f} s and {end:.1f} s while {record.name} ({record.type}) was active",
                               figures)
    return InvariantResult("no_third_party_calls_during", True, f"zero third-party calls during {record.name} "
                           f"({start:.1f}-{end:.1f} s, {len(inside)} samples)", figures)


def fast_failures_during(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """While the named fault is active the API still answers fast (503, not a hang): p99 <= ``p99_ms_max``."""
    record = evidence.fault(str(params["fault"]))
    limit = float(params.get("p99_ms_max", 1000.0))
    window = record.window
    if window is None:
        return InvariantResult("fast_failures_during", False, f"fault {record.name!r} was never applied")
    histogram = hdr.new_window_histogram()
    counts = OutcomeCounts()
    w = evidence.recorder.window_s
    for index in evidence.recorder.window_indices():
        if index * w >= window[0] and (index + 1) * w <= window[1]:
            for label, recording in evidence.recorder.windows[index].endpoints.items():
                if is_api_endpoint(label):
                    hdr.merge_into(histogram, recording.latency)
                    counts.add(recording.counts)
    p99 = hdr.percentile_ms(histogram, 99.0)
    figures = {"requests": counts.requests, "unavailable": counts.unavailable, "p99_ms": p99, "limit_ms": limit}
    if p99 is None or counts.requests == 0:
        return InvariantResult("fast_failures_during", False, f"no API request fell inside {record.name}'s window",
                               figures)
    if counts.unavailable == 0 and params.get("expect_unavailable", True):
        return InvariantResult("fast_failures_during", False, f"no 5xx during {record.name}: the fault did not reach "
                               "the API (or was not applied)", figures)
    if p99 > limit:
        return InvariantResult("fast_failures_during", False, f"API p99 {p99:.0f} ms during {record.name} exceeds "
                               f"{limit:.0f} ms: failures are not fast ({counts.unavailable} of {counts.requests} "
                               "unavailable)", figures)
    return InvariantResult("fast_failures_during", True, f"{counts.unavailable} of {counts.requests} API requests "
                           f"unavailable during {record.name}, p99 {p99:.0f} ms <= {limit:.0f} ms", figures)


def throttling_never_dead_letters(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """No job reached the DLQ because it was throttled (429, empty bucket, Redis down)."""
    throttled = [job for job in evidence.jobs.values()
                 if job.get("status") in ("DEAD_LETTERED", "FAILED")
                 and any(word in str(job.get("error", "")).lower() for word in THROTTLE_WORDS)]
    figures = {"dead_letters": len(evidence.dead_letters), "throttle_reasons": len(throttled),
               "examples": [f"{j.get('jobId')}: {str(j.get('error'))[:80]}" for j in throttled[:3]]}
    if throttled:
        return InvariantResult("throttling_never_dead_letters", False, f"{len(throttled)} jobs failed or were "
                               f"dead-lettered for throttling: {figures['examples']}", figures)
    if params.get("expect_empty_dlq") and evidence.dead_letters:
        return InvariantResult("throttling_never_dead_letters", False, f"{len(evidence.dead_letters)} messages in the "
                               "DLQ after a throttling-only experiment", figures)
    return InvariantResult("throttling_never_dead_letters", True, "no job dead-lettered for throttling "
                           f"({len(evidence.dead_letters)} DLQ messages in all)", figures)


def dead_letter_after_exactly_5_receives(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """Non-transient failures reach the DLQ, each after exactly maxReceiveCount (5) receives."""
    expected = int(params.get("receives", MAX_RECEIVE_COUNT))
    minimum = int(params.get("min_dead_letters", 1))
    receives = Counter(d.receives for d in evidence.dead_letters)
    wrong = {n: c for n, c in receives.items() if n != expected}
    reasons = Counter(str(evidence.jobs.get(d.job_id or "", {}).get("error", "?"))[:60] for d in evidence.dead_letters)
    figures = {"dead_letters": len(evidence.dead_letters), "receives_histogram": dict(receives),
               "reasons": dict(reasons.most_common(5))}
    if len(evidence.dead_letters) < minimum:
        return InvariantResult("dead_letter_after_exactly_5_receives", False, f"expected >= {minimum} jobs in the DLQ "
                               f"(non-transient failures), found {len(evidence.dead_letters)}", figures)
    if wrong:
        return InvariantResult("dead_letter_after_exactly_5_receives", False, f"DLQ messages received "
                               f"{sorted(wrong)} times instead of exactly {expected}", figures)
    return InvariantResult("dead_letter_after_exactly_5_receives", True, f"{len(evidence.dead_letters)} jobs "
                           f"dead-lettered, each after exactly {expected} receives", figures)


def one_job_per_user_per_burst(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """A webhook storm (with duplicates) is coalesced: at most ``max_jobs`` hot-path jobs per stormed user and
    sync config, however many notifications arrived (the coalescer makes one job per user and config per
    10-message FIFO batch, so a burst split across two batches may give two)."""
    storm = evidence.extra.get("webhook_storm") or {}
    limit = int(params.get("max_jobs", 1))
    users = set(storm.get("users", []))
    since = float(storm.get("started_epoch", 0))
    until = float(storm.get("ended_epoch", 0)) + float(params.get("window_s", 30))
    per_config: dict[tuple[str, str, str], int] = defaultdict(int)
    for job in evidence.jobs.values():
        if job.get("userId") in users and job.get("origin") == "webhook" \
                and since <= float(job.get("createdAt", 0)) <= until:
            per_config[(str(job["userId"]), str(job.get("sourceConnectionId")), str(job.get("dataType")))] += 1
    figures = {"users": len(users), "notifications": storm.get("notifications", 0),
               "jobs": sum(per_config.values()), "max_per_config": max(per_config.values(), default=0)}
    if not users:
        return InvariantResult("one_job_per_user_per_burst", False, "no webhook storm ran", figures)
    over = {f"{u}/{d}": n for (u, _, d), n in per_config.items() if n > limit}
    if over:
        return InvariantResult("one_job_per_user_per_burst", False, f"{len(over)} user configs got more than "
                               f"{limit} job(s) from one burst: {dict(list(over.items())[:3])}", figures)
    missing = sorted(users - {u for u, _, _ in per_config})
    if missing and params.get("require_job", False):  # a sync that finds nothing new leaves no JOB# item
        return InvariantResult("one_job_per_user_per_burst", False, f"{len(missing)} stormed users got no job at all "
                               f"(e.g. {missing[:2]})", figures)
    return InvariantResult("one_job_per_user_per_burst", True, f"{storm.get('notifications', 0)} notifications "
                           f"(each delivered twice) for {len(users)} users became {sum(per_config.values())} jobs "
                           f"(<= {limit} per user and config)", figures)


def queue_drained(evidence: Evidence, params: Mapping[str, Any]) -> InvariantResult:
    """Once the faults are gone the backlog clears: nothing left queued or in flight at the end."""
    return InvariantResult("queue_drained", evidence.drained, "the hot-path queue drained" if evidence.drained
                           else "the hot-path queue still held messages at the drain deadline")


INVARIANTS: Mapping[str, Check] = {
    "ledger": ledger,
    "no_duplicate_writes": no_duplicate_writes,
    "no_third_party_calls_during": no_third_party_calls_during,
    "fast_failures_during": fast_failures_during,
    "throttling_never_dead_letters": throttling_never_dead_letters,
    "dead_letter_after_exactly_5_receives": dead_letter_after_exactly_5_receives,
    "one_job_per_user_per_burst": one_job_per_user_per_burst,
    "queue_drained": queue_drained,
}
