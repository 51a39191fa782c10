"""What the runner watches while the load runs: queue and DLQ depths and the fakes' call counters, sampled with
timestamps on the experiment's clock (seconds since the load's t0), so invariants can ask "how many third-party
calls happened between 31 s and 60 s" and the report can chart them."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from sim.chaos.clients import aws_client, fake_control

Series = dict[str, list[tuple[float, float]]]


@dataclass
class Clock:
    """The experiment's clock: 0 is the load's first scheduled instant (set once the driver reports progress)."""

    t0: float | None = None
    started: threading.Event = field(default_factory=threading.Event)

    def start_at(self, t0: float) -> None:
        if self.t0 is None:
            self.t0 = t0
            self.started.set()

    def now(self) -> float:
        return time.monotonic() - self.t0 if self.t0 is not None else 0.0


class _Queues:
    """Hot-path queue and DLQ depths (the DLQ's in-flight messages included: the DLQ consumer parks what it
    recorded there for redrive, and they are still dead letters)."""

    def __init__(self, aws_env: Mapping[str, str]) -> None:
        self._sqs = aws_client("sqs", aws_env)
        self._hot = self._sqs.get_queue_url(QueueName="HotPathSyncQueue")["QueueUrl"]
        self._dlq = self._sqs.get_queue_url(QueueName="HotPathSyncDLQ")["QueueUrl"]

    def depths(self) -> tuple[int, int, int, int]:
        """(visible or delayed, in flight) on the hot-path queue; (visible, parked) in the DLQ."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        hot = self._sqs.get_queue_attributes(QueueUrl=self._hot, AttributeNames=names)["Attributes"]
        dlq = self._sqs.get_queue_attributes(QueueUrl=self._dlq, AttributeNames=names[:2])["Attributes"]
        return (int(hot.get(names[0], 0)) + int(hot.get(names[2], 0)), int(hot.get(names[1], 0)),
                int(dlq.get(names[0], 0)), int(dlq.get(names[1], 0)))


class Observer:
    """A thread sampling every ``interval_s``: queue/in-flight/DLQ depths and each fake's request total."""

    def __init__(self, aws_env: Mapping[str, str], fake_urls: Mapping[str, str], clock: Clock,
                 interval_s: float = 0.5) -> None:
        self._queues = _Queues(aws_env)
        self._fakes = {name: fake_control(url) for name, url in fake_urls.items()}
        self._clock = clock
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.series: Series = {"queue_depth": [], "in_flight": [], "dlq_depth": [], "third_party_calls": []}
        self._thread = threading.Thread(target=self._run, name="chaos-observer", daemon=True)

    def start(self) -> "Observer":
        self._thread.start()
        return self

    def _run(self) -> None:
        # The fakes' counters every half interval: "no third-party call during a 1-2 s window" needs several
        # samples inside it; the queue depths (two SQS calls) every interval are enough for charts and probes.
        tick = 0
        while not self._stop.wait(self._interval_s / 2):
            if self._clock.t0 is not None:
                self.sample(queues=tick % 2 == 0)
                tick += 1

    def sample(self, queues: bool = True) -> None:
        at = self._clock.now()
        visible = in_flight = dlq = -1
        try:
            if queues:
                visible, in_flight, dlq_visible, dlq_parked = self._queues.depths()
                dlq = dlq_visible + dlq_parked
        except Exception:  # SQS under a fault: a gap in the chart, not a failed run
            visible = in_flight = dlq = -1
        calls = self.third_party_calls()
        with self._lock:
            if visible >= 0:
                self.series["queue_depth"].append((at, visible))
                self.series["in_flight"].append((at, in_flight))
                self.series["dlq_depth"].append((at, dlq))
            if calls is not None:
                self.series["third_party_calls"].append((at, calls))

    def third_party_calls(self) -> float | None:
        """Requests the fakes have served in total (the worker's and API's third-party calls)."""
        total = 0
        for control in self._fakes.values():
            try:
                total += int(control.counters()["requests"])
            except Exception:
                return None
        return float(total)

    def depths(self) -> tuple[int, int, int]:
        """(visible, in flight) on the hot-path queue and the DLQ's visible messages (not yet recorded)."""
        return self._queues.depths()[:3]

    def drain(self, timeout_s: float, dlq_consumer: bool = False) -> bool:
        """Until nothing is queued, delayed or in flight (every job finished or dead-lettered) and, with the DLQ
        consumer, until it has recorded every dead letter (none left visible in the DLQ)."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            self.sample()
            try:
                visible, in_flight, dlq_visible, _ = self._queues.depths()
            except Exception:
                visible = in_flight = dlq_visible = -1
            settled = visible == 0 and in_flight == 0 and (dlq_visible == 0 or not dlq_consumer)
            quiet = quiet + 1 if settled else 0
            if quiet >= 2:  # twice in a row: a message between receive and delete is not "drained"
                return True
            time.sleep(self._interval_s)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def snapshot(self) -> Series:
        with self._lock:
            return {k: list(v) for k, v in self.series.items()}


def value_at(series: list[tuple[float, float]], at_s: float) -> float | None:
    """The last sample at or before ``at_s`` (None before the first)."""
    best = None
    for t, v in series:
        if t <= at_s:
            best = v
        else:
            break
    return best


def describe_series(series: Series) -> dict[str, Any]:
    return {name: len(points) for name, points in series.items()}
