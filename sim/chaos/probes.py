"""Steady-state probes: one number per phase (before, during, after the faults) from the live load.

Latency and error figures come from the load engine's per-window recordings (HDR histograms keyed by the
*scheduled* start, so a stalled API shows up in the window that asked); depths and call rates from the
observer's timestamped samples. A window belongs to "before"/"after" when it lies inside the phase, to "during"
when it overlaps a fault.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from reports import histogram as hdr
from reports.recorder import LatencyRecorder, OutcomeCounts
from sim.chaos.experiment import ProbeSpec
from sim.chaos.observe import Series

Interval = tuple[float, float]


@dataclass(frozen=True)
class Phases:
    before: tuple[Interval, ...]
    during: tuple[Interval, ...]
    after: tuple[Interval, ...]

    def of(self, name: str) -> tuple[Interval, ...]:
        return {"before": self.before, "during": self.during, "after": self.after}[name]

    def to_wire(self) -> dict[str, list[list[float]]]:
        return {name: [[round(a, 3), round(b, 3)] for a, b in self.of(name)] for name in ("before", "during", "after")}


def phases_for(fault_windows: Sequence[Interval], load_end_s: float, recovery_s: float) -> Phases:
    if not fault_windows:
        return Phases(((0.0, load_end_s),), (), ())
    first = min(a for a, _ in fault_windows)
    last = max(b for _, b in fault_windows)
    after_start = min(last + recovery_s, load_end_s)
    return Phases(((0.0, first),) if first > 0 else (), tuple(sorted(fault_windows)),
                  ((after_start, load_end_s),) if after_start < load_end_s else ())


@dataclass(frozen=True)
class ProbeInput:
    recorder: LatencyRecorder
    series: Series


def is_api_endpoint(label: str) -> bool:
    return "/v1/" in label


def _windows(recorder: LatencyRecorder, intervals: Sequence[Interval], inside: bool) -> list[int]:
    w = recorder.window_s
    chosen = []
    for index in recorder.window_indices():
        start, end = index * w, (index + 1) * w
        for a, b in intervals:
            if (inside and start >= a - 1e-9 and end <= b + 1e-9) or (not inside and start < b and end > a):
                chosen.append(index)
                break
    return chosen


def _api(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> tuple[object, OutcomeCounts, float]:
    histogram = hdr.new_window_histogram()
    counts = OutcomeCounts()
    indices = _windows(data.recorder, intervals, inside)
    for index in indices:
        for label, recording in data.recorder.windows[index].endpoints.items():
            if is_api_endpoint(label):
                hdr.merge_into(histogram, recording.latency)
                counts.add(recording.counts)
    return histogram, counts, len(indices) * data.recorder.window_s


def _samples(series: list[tuple[float, float]], intervals: Sequence[Interval]) -> list[tuple[float, float]]:
    return [(t, v) for t, v in series if any(a <= t <= b for a, b in intervals)]


def api_p99_ms(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
    histogram, _, _ = _api(data, intervals, inside)
    return hdr.percentile_ms(histogram, 99.0)  # type: ignore[arg-type]


def error_rate(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
    _, counts, _ = _api(data, intervals, inside)
    return counts.errors / counts.requests if counts.requests else None


def availability(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
    _, counts, _ = _api(data, intervals, inside)
    return 1.0 - counts.unavailable / counts.requests if counts.requests else None


def api_throughput_rps(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
    _, counts, seconds = _api(data, intervals, inside)
    return counts.requests / seconds if seconds else None


def _max_of(name: str) -> Callable[[ProbeInput, Sequence[Interval], bool], float | None]:
    def probe(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
        values = [v for _, v in _samples(data.series.get(name, []), intervals)]
        return max(values) if values else None

    return probe


def dlq_growth(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
    samples = _samples(data.series.get("dlq_depth", []), intervals)
    return samples[-1][1] - samples[0][1] if len(samples) >= 2 else None


def third_party_calls_per_s(data: ProbeInput, intervals: Sequence[Interval], inside: bool) -> float | None:
    total, seconds = 0.0, 0.0
    for a, b in intervals:
        samples = _samples(data.series.get("third_party_calls", []), [(a, b)])
        if len(samples) >= 2:
            total += samples[-1][1] - samples[0][1]
            seconds += samples[-1][0] - samples[0][0]
    return total / seconds if seconds else None


PROBES: Mapping[str, Callable[[ProbeInput, Sequence[Interval], bool], float | None]] = {
    "api_p99_ms": api_p99_ms,
    "error_rate": error_rate,
    "availability": availability,
    "api_throughput_rps": api_throughput_rps,
    "queue_depth_max": _max_of("queue_depth"),
    "in_flight_max": _max_of("in_flight"),
    "dlq_depth_max": _max_of("dlq_depth"),
    "dlq_growth": dlq_growth,
    "third_party_calls_per_s": third_party_calls_per_s,
}


@dataclass(frozen=True)
class ProbeVerdict:
    probe: str
    phase: str
    bound: str
    measured: float | None
    passed: bool
    note: str = ""

    def to_wire(self) -> dict[str, object]:
        return {"probe": self.probe, "phase": self.phase, "bound": self.bound,
                "measured": None if self.measured is None else round(self.measured, 4), "passed": self.passed,
                "note": self.note}


def measure(spec: ProbeSpec, phase: str, phases: Phases, data: ProbeInput) -> ProbeVerdict:
    intervals = phases.of(phase)
    if not intervals:
        return ProbeVerdict(spec.probe, phase, spec.describe(), None, True, f"no {phase} phase on this timeline")
    value = PROBES[spec.probe](data, intervals, phase != "during")
    if value is None:
        return ProbeVerdict(spec.probe, phase, spec.describe(), None, True, "no data in this phase")
    passed = (spec.max is None or value <= spec.max) and (spec.min is None or value >= spec.min)
    return ProbeVerdict(spec.probe, phase, spec.describe(), value, passed)


def all_phase_figures(phases: Phases, data: ProbeInput) -> dict[str, dict[str, float | None]]:
    """Every probe in every phase (for the report's table, judged or not)."""
    figures: dict[str, dict[str, float | None]] = {}
    for phase in ("before", "during", "after"):
        intervals = phases.of(phase)
        figures[phase] = {name: (fn(data, intervals, phase != "during") if intervals else None)
                          for name, fn in PROBES.items()}
    return figures
