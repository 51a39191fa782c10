"""The open-model core that runs inside a Locust process (gevent): a time-ordered feed of scheduled events,
taken by the Locust users (the bounded pool), each fired at its scheduled time and recorded from it.

Whoever takes an event sleeps until its scheduled time, then fires. When every user is busy, the next due
event waits for a free user: its start is late, the lateness is counted (``late_starts``) and, because latency
is measured from the scheduled time, it is part of the recorded latency.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import gevent
from gevent.event import Event
from gevent.queue import Empty, Queue

from reports import histogram as hdr
from reports.recorder import LatencyRecorder, Outcome
from scenarios.engine.requests import RequestBuilder, RequestSpec, ResponseInfo
from scenarios.engine.schedule_file import ScheduledEvent, decode_records

log = logging.getLogger("swsim.engine")
Record = tuple[float, int, int, int]  # at_s, user_index, payload_bytes, kind_id
_END = object()


def transport_error_kind(error: BaseException | None) -> str:
    """A short, stable name for a request that got no HTTP answer."""
    if error is None:
        return "no_response"
    if isinstance(error, (socket.timeout, TimeoutError, gevent.Timeout)) or "timed out" in str(error).lower():
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(error, ConnectionResetError):
        return "connection_reset"
    return f"transport_{type(error).__name__}"


@dataclass(slots=True)
class ProgressCounters:
    started: int
    completed: int
    late_starts: int
    errors: int
    scheduled_fed: int
    in_flight: int


class LoadProcess:
    """Everything one Locust process needs to fire its share of the schedule."""

    def __init__(self, builders: Mapping[str, RequestBuilder], kinds: tuple[str, ...], window_s: float,
                 late_threshold_s: float, part_id: str):
        self.builders = dict(builders)
        self.kinds = kinds
        self.part_id = part_id
        self.recorder = LatencyRecorder(window_s, late_threshold_s)
        self.progress_latency = hdr.new_window_histogram()  # all endpoints, cheap p99 for progress lines
        self.feed: Queue = Queue()
        self.t0: float | None = None
        self.cpu_at_start = 0.0
        self.started_event = Event()
        self.stop_event = Event()  # set by stop(): wakes the users waiting for their events' times
        self.fed = 0
        self.taken = 0
        self.in_flight = 0  # sent, not answered yet (plus follow-ups running)
        self.held = 0  # taken by a user, not finished (waiting for its time, or in flight)
        self.fired = 0  # reached their start
        self.feed_closed = False
        self.last_at_s = 0.0
        self.errors = 0
        self.completed = 0
        self.late_starts = 0
        self._builder_failures_logged: set[str] = set()

    # -- feeding ---------------------------------------------------------------------------------------------
    def start_clock(self, delay_s: float) -> None:
        self.cpu_at_start = time.process_time()
        self.t0 = time.perf_counter() + delay_s
        self.started_event.set()

    def cpu_s(self) -> float:
        """CPU seconds of this process since the start message (how close the generator is to saturation)."""
        return time.process_time() - self.cpu_at_start

    def now_s(self) -> float:
        assert self.t0 is not None
        return time.perf_counter() - self.t0

    def push_records(self, chunk: bytes) -> None:
        put = self.feed.put
        records = list(decode_records(chunk))
        if self.stop_event.is_set():
            self.taken += len(records)  # dropped at once: they count as not started
        else:
            for record in records:
                put(record)
        self.recorder.record_scheduled_many(record[0] for record in records)
        self.fed += len(records)
        if records:
            self.last_at_s = records[-1][0]

    def close_feed(self) -> None:
        self.feed_closed = True
        self.feed.put(_END)

    def stop(self) -> None:
        """Fire nothing more: events in the feed or waiting for their time are dropped (counted as not
        started); requests in flight and their follow-ups finish."""
        self.stop_event.set()
        while True:
            try:
                item = self.feed.get_nowait()
            except Empty:
                return
            if item is _END:
                self.feed.put(_END)
                return
            self.taken += 1

    def is_done(self) -> bool:
        return self.feed_closed and self.taken == self.fed and self.held == 0 and self.in_flight == 0

    def count_not_started(self) -> int:
        """At the drain deadline: events that never reached their start (kept in the recording, not hidden)."""
        self.recorder.not_started = self.fed - self.fired
        return self.recorder.not_started

    def progress(self) -> ProgressCounters:
        return ProgressCounters(self.fired, self.completed, self.late_starts, self.errors, self.fed, self.in_flight)

    # -- firing ----------------------------------------------------------------------------------------------
    def next_record(self) -> Record | None:
        """Block until an event is available; None once the schedule is exhausted."""
        item = self.feed.get()
        if item is _END:
            self.feed.put(_END)  # wake the next user too
            return None
        self.taken += 1
        self.held += 1
        return item

    def fire(self, client: Any, record: Record) -> None:
        at_s, user_index, payload_bytes, kind_id = record
        try:
            self.started_event.wait()
            assert self.t0 is not None
            delay = self.t0 + at_s - time.perf_counter()
            if delay > 0:
                self.stop_event.wait(delay)  # returns early when the run is stopped
        except BaseException:
            self.held -= 1  # killed while waiting (Locust stopping the user)
            raise
        if self.stop_event.is_set():
            self.held -= 1  # stopped before its time: not started
            return
        self.in_flight += 1
        self.fired += 1
        event = ScheduledEvent(at_s, self.kinds[kind_id], user_index, payload_bytes)
        try:
            spec = self.builders[event.kind](event)
            if spec is None:
                self.recorder.record_skipped()
                return
            response = self.send(client, spec, at_s)
            if spec.after is not None:
                spec.after(EngineFollowUp(self, client, event), response)
        except Exception as exc:  # a scenario bug must not kill the pool slot; it is counted and logged once
            self._record_builder_failure(event, exc)
        finally:
            self.in_flight -= 1
            self.held -= 1

    def send(self, client: Any, spec: RequestSpec, scheduled_s: float, scheduled: bool = True) -> ResponseInfo:
        assert self.t0 is not None
        label = spec.label
        headers = dict(spec.headers) if spec.headers else None
        started = time.perf_counter() - self.t0
        if spec.expected_statuses:
            # only then do we overrule Locust's own success/failure verdict (the context manager costs CPU)
            with client.request(spec.method, spec.path, name=label, headers=headers, data=spec.body,
                                json=spec.json, catch_response=True) as response:
                finished = time.perf_counter() - self.t0
                outcome = self._outcome(response, spec)
                if outcome.is_error:
                    response.failure(outcome.error_kind or "error")
                else:
                    response.success()
        else:
            response = client.request(spec.method, spec.path, name=label, headers=headers, data=spec.body,
                                      json=spec.json)
            finished = time.perf_counter() - self.t0
            outcome = self._outcome(response, spec)
        self._count(label, scheduled_s, started, finished, outcome, scheduled)
        if spec.after is None and scheduled:
            return ResponseInfo(outcome.status, b"", {}, None)  # nobody will read it: skip the copies
        body = (response.content or b"") if outcome.status else b""
        response_headers = dict(response.headers or {}) if outcome.status else {}
        return ResponseInfo(outcome.status, body, response_headers, outcome.error_kind if not outcome.status else None)

    @staticmethod
    def _outcome(response: Any, spec: RequestSpec) -> Outcome:
        status = int(response.status_code or 0)
        if status == 0:
            return Outcome.transport_failure(transport_error_kind(getattr(response, "error", None)))
        return Outcome.from_status(status, spec.expected_statuses)

    def _count(self, label: str, scheduled_s: float, started: float, finished: float, outcome: Outcome,
               scheduled: bool) -> None:
        self.recorder.record_request(label, scheduled_s, started, finished, outcome, scheduled)
        self.progress_latency.record_value(hdr.seconds_to_us(finished - scheduled_s))
        self.completed += 1
        self.errors += outcome.is_error
        self.late_starts += (started - scheduled_s) > self.recorder.late_threshold_s

    def _record_builder_failure(self, event: ScheduledEvent, exc: Exception) -> None:
        kind = f"scenario_error_{type(exc).__name__}"
        self.recorder.errors_by_kind[kind] += 1
        self.errors += 1
        if event.kind not in self._builder_failures_logged:
            self._builder_failures_logged.add(event.kind)
            log.exception("request builder for kind %r failed (logged once per kind)", event.kind)


class EngineFollowUp:
    """The ``FollowUp`` a request spec's ``after`` hook receives."""

    def __init__(self, process: LoadProcess, client: Any, event: ScheduledEvent):
        self._process = process
        self._client = client
        self.event = event

    def elapsed_s(self) -> float:
        return self._process.now_s() - self.event.at_s

    def request(self, spec: RequestSpec) -> ResponseInfo:
        return self._process.send(self._client, spec, self._process.now_s(), scheduled=False)

    def record_latency(self, histogram: str, latency_s: float) -> None:
        self._process.recorder.record_named(histogram, self.event.at_s, latency_s)

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def spawn(self, function: Callable[[], None]) -> None:
        process = self._process
        process.in_flight += 1

        def run() -> None:
            try:
                function()
            except Exception:
                log.exception("follow-up of kind %r failed", self.event.kind)
            finally:
                process.in_flight -= 1

        gevent.spawn(run)
