"""What one load run produced: the merged recorder, run facts, Locust's own stats, caller-supplied counters.

``recording.json`` (written by the load driver, read back here) is the lossless form: HDR histograms encoded.
``summary.json`` (reports/summary.py) is the documented, human-facing digest of it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reports.recorder import LatencyRecorder

RECORDING_FILE = "recording.json"
RECORDING_VERSION = 1


@dataclass(frozen=True, slots=True)
class LocustEndpointStats:
    """Locust's own view of one endpoint: closed-model timing from the actual send, percentiles rounded by
    Locust to 2 significant digits. Shown beside ours, never used for gates."""

    name: str
    method: str
    num_requests: int
    num_failures: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True, slots=True)
class PartSummary:
    """One load process's own totals before the merge (lets a reader check merged == sum of parts)."""

    part_id: str
    requests: int
    scheduled: int
    late_starts: int
    errors: int
    cpu_s: float = 0.0  # CPU seconds the process spent from t0 to its end (near duration_s = saturated)


@dataclass(slots=True)
class RunInfo:
    target_url: str
    started_at: str  # ISO 8601 UTC wall clock of t0
    duration_s: float  # t0 to the last answer (or the drain deadline)
    schedule_span_s: float  # at_s of the last scheduled event
    window_s: float
    workers: int  # load processes that fired requests (0 = the driver itself, local mode)
    pool_size: int  # Locust users = concurrent request slots, over all processes
    late_threshold_ms: float
    request_timeout_s: float
    drained: bool = True  # False when in-flight requests were abandoned at the drain deadline
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RunResult:
    info: RunInfo
    recorder: LatencyRecorder
    locust: dict[str, LocustEndpointStats] = field(default_factory=dict)
    parts: list[PartSummary] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)

    def add_counter(self, name: str, value: float) -> None:
        """Caller-measured totals the load engine cannot see, e.g. ``sync_jobs_accepted``/``sync_jobs_dlq``."""
        self.counters[name] = float(value)

    def record_async_latency(self, name: str, scheduled_s: float, latency_s: float) -> None:
        """End-to-end latency of asynchronous work measured by the caller (e.g. a poller) after the run."""
        self.recorder.record_named(name, scheduled_s, latency_s)

    def to_wire(self) -> dict[str, Any]:
        return {
            "recording_version": RECORDING_VERSION,
            "info": asdict(self.info),
            "recorder": self.recorder.to_wire(),
            "locust": {key: asdict(stats) for key, stats in self.locust.items()},
            "parts": [asdict(part) for part in self.parts],
            "counters": dict(self.counters),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "RunResult":
        if data.get("recording_version") != RECORDING_VERSION:
            raise ValueError(f"unsupported recording_version {data.get('recording_version')!r}")
        return cls(
            info=RunInfo(**data["info"]),
            recorder=LatencyRecorder.from_wire(data["recorder"]),
            locust={key: LocustEndpointStats(**stats) for key, stats in data["locust"].items()},
            parts=[PartSummary(**part) for part in data["parts"]],
            counters={k: float(v) for k, v in data["counters"].items()},
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_wire()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "RunResult":
        return cls.from_wire(json.loads(path.read_text()))
