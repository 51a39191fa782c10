"""Coordinated-omission-correct recording of an open-model run.

Every request is recorded with three times, all in seconds since the run's t0: when the schedule said it should
start (``scheduled_s``), when it really started (``started_s``) and when its answer arrived (``finished_s``).
Latency is ``finished_s - scheduled_s``: a request that could not start on time (pool exhausted, generator
stalled) carries its lateness into its latency, which is what a user whose request was queued would see.

One recorder lives in each load process; recorders merge exactly (HDR counts add), and travel as plain dicts
(``to_wire``/``from_wire``) over Locust's messages or into ``recording.json``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from hdrh.histogram import HdrHistogram

from reports import histogram as hdr

DEFAULT_WINDOW_S = 10.0
DEFAULT_LATE_THRESHOLD_S = 0.010


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request came back with, already judged."""

    status: int  # HTTP status, 0 when no answer (timeout, refused...)
    is_error: bool  # counts against the error rate
    is_unavailable: bool  # counts against availability: a 5xx or no answer at all
    error_kind: str | None  # "http_503", "timeout", "connection_refused", ...

    @classmethod
    def from_status(cls, status: int, expected: frozenset[int] | None = None) -> "Outcome":
        if not expected:
            cached = _STATUS_OUTCOMES.get(status)
            if cached is None:
                cached = _STATUS_OUTCOMES[status] = cls._judge(status, None)
            return cached
        return cls._judge(status, expected)

    @classmethod
    def _judge(cls, status: int, expected: frozenset[int] | None) -> "Outcome":
        if expected and status in expected:
            return cls(status, False, False, None)
        if status >= 500:
            return cls(status, True, True, f"http_{status}")
        if status >= 400:
            return cls(status, True, False, f"http_{status}")
        return cls(status, False, False, None)

    @classmethod
    def transport_failure(cls, kind: str) -> "Outcome":
        return cls(0, True, True, kind)


_STATUS_OUTCOMES: dict[int, Outcome] = {}  # outcomes are immutable: one per status is enough


@dataclass(slots=True)
class OutcomeCounts:
    requests: int = 0
    errors: int = 0
    unavailable: int = 0  # 5xx or transport failure
    transport_errors: int = 0
    late_starts: int = 0

    def count(self, outcome: Outcome, late: bool) -> None:
        self.requests += 1
        self.errors += outcome.is_error
        self.unavailable += outcome.is_unavailable
        self.transport_errors += outcome.status == 0
        self.late_starts += late

    def add(self, other: "OutcomeCounts") -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.unavailable += other.unavailable
        self.transport_errors += other.transport_errors
        self.late_starts += other.late_starts

    def to_wire(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "OutcomeCounts":
        return cls(**{k: int(v) for k, v in data.items()})


@dataclass(slots=True)
class EndpointRecording:
    """One endpoint over one span (the whole run or one window)."""

    latency: HdrHistogram
    counts: OutcomeCounts = field(default_factory=OutcomeCounts)

    def merge(self, other: "EndpointRecording") -> None:
        hdr.merge_into(self.latency, other.latency)
        self.counts.add(other.counts)

    def to_wire(self) -> dict[str, Any]:
        return {"counts": self.counts.to_wire(), "latency": hdr.encode(self.latency)}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "EndpointRecording":
        return cls(hdr.decode(data["latency"]), OutcomeCounts.from_wire(data["counts"]))


@dataclass(slots=True)
class WindowRecording:
    """One window of ``window_s`` seconds. Latency and outcomes are keyed by the *scheduled* start (what the
    schedule asked for in this window); ``started`` and ``completed`` by when things really happened."""

    scheduled: int = 0
    started: int = 0
    completed: int = 0
    endpoints: dict[str, EndpointRecording] = field(default_factory=dict)
    named: dict[str, HdrHistogram] = field(default_factory=dict)
    errors_by_kind: Counter[str] = field(default_factory=Counter)

    def endpoint(self, name: str) -> EndpointRecording:
        recording = self.endpoints.get(name)
        if recording is None:
            recording = self.endpoints[name] = EndpointRecording(hdr.new_window_histogram())
        return recording

    def named_histogram(self, name: str) -> HdrHistogram:
        histogram = self.named.get(name)
        if histogram is None:
            histogram = self.named[name] = hdr.new_window_histogram()
        return histogram

    def merge(self, other: "WindowRecording") -> None:
        self.scheduled += other.scheduled
        self.started += other.started
        self.completed += other.completed
        for name, recording in other.endpoints.items():
            self.endpoint(name).merge(recording)
        for name, histogram in other.named.items():
            hdr.merge_into(self.named_histogram(name), histogram)
        self.errors_by_kind.update(other.errors_by_kind)

    def to_wire(self) -> dict[str, Any]:
        return {
            "scheduled": self.scheduled,
            "started": self.started,
            "completed": self.completed,
            "endpoints": {name: rec.to_wire() for name, rec in self.endpoints.items()},
            "named": {name: hdr.encode(h) for name, h in self.named.items()},
            "errors_by_kind": dict(self.errors_by_kind),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "WindowRecording":
        return cls(
            scheduled=int(data["scheduled"]),
            started=int(data["started"]),
            completed=int(data["completed"]),
            endpoints={name: EndpointRecording.from_wire(rec) for name, rec in data["endpoints"].items()},
            named={name: hdr.decode(text) for name, text in data["named"].items()},
            errors_by_kind=Counter({k: int(v) for k, v in data["errors_by_kind"].items()}),
        )


class LatencyRecorder:
    """Per-endpoint and per-window HDR histograms plus outcome counters for one load process (or a merge)."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, late_threshold_s: float = DEFAULT_LATE_THRESHOLD_S):
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self.late_threshold_s = late_threshold_s
        self.endpoints: dict[str, EndpointRecording] = {}
        self.named: dict[str, HdrHistogram] = {}
        self.windows: dict[int, WindowRecording] = {}
        self.start_lag = hdr.new_run_histogram()
        self.errors_by_kind: Counter[str] = Counter()
        self.scheduled = 0
        self.skipped = 0  # events whose request builder returned None
        self.not_started = 0  # events still waiting to start when the run was cut at its drain deadline

    # -- recording -------------------------------------------------------------------------------------------
    def window_index(self, at_s: float) -> int:
        index = int(at_s // self.window_s)
        return index if index > 0 else 0  # a start a hair before t0 (timer granularity) belongs to window 0

    def window(self, index: int) -> WindowRecording:
        window = self.windows.get(index)
        if window is None:
            window = self.windows[index] = WindowRecording()
        return window

    def record_scheduled(self, at_s: float) -> None:
        """The schedule asked for a start at ``at_s`` (the target rate is built from these)."""
        self.scheduled += 1
        self.window(self.window_index(at_s)).scheduled += 1

    def record_scheduled_many(self, times_s: Iterable[float]) -> None:
        per_window: Counter[int] = Counter(self.window_index(at_s) for at_s in times_s)
        for index, count in per_window.items():
            self.window(index).scheduled += count
            self.scheduled += count

    def record_skipped(self) -> None:
        self.skipped += 1

    def record_request(
        self, endpoint: str, scheduled_s: float, started_s: float, finished_s: float, outcome: Outcome,
        scheduled: bool = True,
    ) -> None:
        """``scheduled=False`` for follow-up requests (polls): recorded per endpoint, but not counted as starts
        of the schedule, so the achieved arrival rate compares like with like."""
        lag_s = started_s - scheduled_s
        late = lag_s > self.late_threshold_s
        latency_us = hdr.seconds_to_us(finished_s - scheduled_s)
        self.start_lag.record_value(hdr.seconds_to_us(lag_s))
        whole = self.endpoints.get(endpoint)
        if whole is None:
            whole = self.endpoints[endpoint] = EndpointRecording(hdr.new_run_histogram())
        whole.latency.record_value(latency_us)
        whole.counts.count(outcome, late)
        scheduled_window = self.window(self.window_index(scheduled_s))
        per_window = scheduled_window.endpoint(endpoint)
        per_window.latency.record_value(latency_us)
        per_window.counts.count(outcome, late)
        if scheduled:
            self.window(self.window_index(started_s)).started += 1
        self.window(self.window_index(finished_s)).completed += 1
        if outcome.error_kind is not None:
            self.errors_by_kind[outcome.error_kind] += 1
            scheduled_window.errors_by_kind[outcome.error_kind] += 1

    def record_named(self, name: str, scheduled_s: float, latency_s: float) -> None:
        """End-to-end latency of asynchronous work (e.g. sync job request -> SUCCEEDED), measured by a caller."""
        value = hdr.seconds_to_us(latency_s)
        histogram = self.named.get(name)
        if histogram is None:
            histogram = self.named[name] = hdr.new_run_histogram()
        histogram.record_value(value)
        self.window(self.window_index(scheduled_s)).named_histogram(name).record_value(value)

    # -- combining -------------------------------------------------------------------------------------------
    def merge(self, other: "LatencyRecorder") -> None:
        if not math.isclose(other.window_s, self.window_s):
            raise ValueError(f"cannot merge recorders with windows {self.window_s}s and {other.window_s}s")
        for name, recording in other.endpoints.items():
            mine = self.endpoints.get(name)
            if mine is None:
                mine = self.endpoints[name] = EndpointRecording(hdr.new_run_histogram())
            mine.merge(recording)
        for name, histogram in other.named.items():
            if name not in self.named:
                self.named[name] = hdr.new_run_histogram()
            hdr.merge_into(self.named[name], histogram)
        for index, window in other.windows.items():
            self.window(index).merge(window)
        hdr.merge_into(self.start_lag, other.start_lag)
        self.errors_by_kind.update(other.errors_by_kind)
        self.scheduled += other.scheduled
        self.skipped += other.skipped
        self.not_started += other.not_started

    def to_wire(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "late_threshold_s": self.late_threshold_s,
            "scheduled": self.scheduled,
            "skipped": self.skipped,
            "not_started": self.not_started,
            "endpoints": {name: rec.to_wire() for name, rec in self.endpoints.items()},
            "named": {name: hdr.encode(h) for name, h in self.named.items()},
            "windows": {str(index): window.to_wire() for index, window in self.windows.items()},
            "start_lag": hdr.encode(self.start_lag),
            "errors_by_kind": dict(self.errors_by_kind),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "LatencyRecorder":
        recorder = cls(float(data["window_s"]), float(data["late_threshold_s"]))
        recorder.scheduled = int(data["scheduled"])
        recorder.skipped = int(data["skipped"])
        recorder.not_started = int(data.get("not_started", 0))
        recorder.endpoints = {name: EndpointRecording.from_wire(rec) for name, rec in data["endpoints"].items()}
        recorder.named = {name: hdr.decode(text) for name, text in data["named"].items()}
        recorder.windows = {int(k): WindowRecording.from_wire(w) for k, w in data["windows"].items()}
        recorder.start_lag = hdr.decode(data["start_lag"])
        recorder.errors_by_kind = Counter({k: int(v) for k, v in data["errors_by_kind"].items()})
        return recorder

    # -- queries ---------------------------------------------------------------------------------------------
    def totals(self) -> OutcomeCounts:
        total = OutcomeCounts()
        for recording in self.endpoints.values():
            total.add(recording.counts)
        return total

    def all_endpoints_latency(self) -> HdrHistogram:
        merged = hdr.new_run_histogram()
        for recording in self.endpoints.values():
            hdr.merge_into(merged, recording.latency)
        return merged

    def window_indices(self) -> list[int]:
        return sorted(self.windows)
