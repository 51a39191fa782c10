"""What the runner watches while the load runs: queue and DLQ depths and the fakes' call counters, sampled with
timestamps on the experiment's clock (seconds since the load's t0), so invariants can ask "how many third-party
calls happened between 31 s and 60 s" and the report can chart them."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from fake_providers.control import FakeControl

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


class Observer:
    """A thread sampling every ``interval_s``: queue/in-flight/DLQ depths and each fake's request total."""

    def __init__(self, aws_env: Mapping[str, str], fake_urls: Mapping[str, str], clock: Clock,
                 interval_s: float = 0.5) -> None:
        from sim.load import QueueSampler

        self._queues = QueueSampler(aws_env, ("HotPathSyncQueue", "HotPathSyncDLQ"), interval_s)
        self._fakes = {name: FakeControl(url, timeout=5) for name, url in fake_urls.items()}
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
        while not self._stop.wait(self._interval_s):
            if self._clock.t0 is not None:
                self.sample()

    def sample(self) -> None:
        at = self._clock.now()
        try:
            visible, in_flight, dlq = self._queues.depths()
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
        return self._queues.depths()

    def drain(self, timeout_s: float) -> bool:
        """Until nothing is queued, delayed or in flight (every job finished or dead-lettered)."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            self.sample()
            try:
                visible, in_flight, _ = self._queues.depths()
            except Exception:
                visible = in_flight = -1
            quiet = quiet + 1 if visible == 0 and in_flight == 0 else 0
            if quiet >= 2:  # twice in a row: a message between receive and delete is not "drained"
                return True
            time.sleep(self._interval_s)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for control in self._fakes.values():
            control.close()

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
