"""SLO gates: thresholds judged over the whole run and over each window, with the exit code CI reads.

Default gates are the seeds' SLOs [seed 001 §3b "SLOs", 004 §4, and the k6 gate of 001 CI/CD]:
  api_p99          p99 of every synchronous API request < 500 ms
  availability     >= 99.95 % of /v1 requests answered non-5xx (no answer at all counts as unavailable)
  sync_success     >= 99.9 % of hot-path sync jobs not in the DLQ (caller-supplied counters)
  manual_sync_p95  p95 of a manual sync, request to SUCCEEDED, < 15 s (caller-recorded named histogram)
  error_rate       < 1 % of requests failed (HTTP >= 400 not expected by the scenario, or no answer)

A gate whose data is absent (no sync counters, no manual-sync histogram) reports ``no_data`` and does not
fail the run. Windows with fewer than ``window_min_samples`` samples are not judged, and a ratio gate judges
only windows big enough that a single bad request cannot fail them alone (availability >= 99.95 %: 2,000
requests; error rate < 1 %: 100): one 5xx among 300 requests of a quiet window is not an availability verdict.
The whole run is always judged.
"""
from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import yaml
from hdrh.histogram import HdrHistogram

from reports import histogram as hdr
from reports.recorder import LatencyRecorder, OutcomeCounts, WindowRecording
from reports.result import RunResult

Op = Literal["<", "<=", ">", ">="]
Metric = Literal["latency", "availability", "error_rate", "named_latency", "counter_success"]
Status = Literal["pass", "fail", "no_data"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
METRIC_UNITS: dict[str, str] = {
    "latency": "ms",
    "named_latency": "ms",
    "availability": "%",
    "error_rate": "%",
    "counter_success": "%",
}
DEFAULT_WINDOW_MIN_SAMPLES = 100
EXIT_PASS = 0
EXIT_GATE_FAILED = 1


class GateConfigError(ValueError):
    """A gate file or override is malformed (the CLI turns this into a usage error, exit 2)."""


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    metric: Metric
    op: Op
    threshold: float
    percentile: float | None = None  # latency metrics
    endpoint: str | None = None  # restrict latency/availability/error_rate to one endpoint label
    histogram: str | None = None  # named_latency: which named histogram
    total_counter: str | None = None  # counter_success: denominator
    failed_counter: str | None = None  # counter_success: the failures
    per_window: bool = True
    description: str = ""

    @property
    def unit(self) -> str:
        return METRIC_UNITS[self.metric]

    def passes(self, measured: float) -> bool:
        return OPERATORS[self.op](measured, self.threshold)

    def describe_threshold(self) -> str:
        return f"{self.op} {self.threshold:g} {self.unit}"


DEFAULT_GATES: tuple[Gate, ...] = (
    Gate("api_p99", "latency", "<", 500.0, percentile=99.0,
         description="API p99 < 500 ms [seed 001 SLOs; 004 §4]"),
    Gate("availability", "availability", ">=", 99.95,
         description="core API availability >= 99.95 % non-5xx [seed 001 SLOs]"),
    Gate("sync_success", "counter_success", ">=", 99.9, total_counter="sync_jobs_accepted",
         failed_counter="sync_jobs_dlq", per_window=False,
         description="hot-path sync success >= 99.9 % (not in the DLQ) [seed 001 SLOs]"),
    Gate("manual_sync_p95", "named_latency", "<", 15_000.0, percentile=95.0, histogram="manual_sync",
         description="manual sync p95 < 15 s, request to success [seed 001 SLOs]"),
    Gate("error_rate", "error_rate", "<", 1.0,
         description="error rate < 1 % blocks the deployment [seed 001 CI/CD k6 gate]"),
)


@dataclass(frozen=True, slots=True)
class GateSet:
    gates: tuple[Gate, ...] = DEFAULT_GATES
    window_min_samples: int = DEFAULT_WINDOW_MIN_SAMPLES


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    index: int
    start_s: float
    measured: float
    samples: int


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: Gate
    status: Status
    measured: float | None  # whole run
    samples: int
    whole_run_passed: bool | None
    windows_judged: int
    failed_windows: tuple[WindowVerdict, ...]

    def failure_message(self) -> str:
        parts: list[str] = []
        if self.whole_run_passed is False and self.measured is not None:
            parts.append(f"whole run: measured {self.measured:.4g} {self.gate.unit}, "
                         f"threshold {self.gate.describe_threshold()}")
        if self.failed_windows:
            worst = ", ".join(f"window {w.index} (t={w.start_s:g}s): {w.measured:.4g} {self.gate.unit}"
                              for w in self.failed_windows[:5])
            more = f" and {len(self.failed_windows) - 5} more" if len(self.failed_windows) > 5 else ""
            parts.append(f"{len(self.failed_windows)} of {self.windows_judged} windows failed "
                         f"{self.gate.describe_threshold()}: {worst}{more}")
        return f"gate {self.gate.name} failed: " + "; ".join(parts)


@dataclass(frozen=True, slots=True)
class GateReport:
    results: tuple[GateResult, ...]
    window_min_samples: int

    @property
    def passed(self) -> bool:
        return all(result.status != "fail" for result in self.results)

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_GATE_FAILED

    def failed(self) -> list[GateResult]:
        return [result for result in self.results if result.status == "fail"]


# -- measuring -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Measurement:
    value: float | None
    samples: int


def _ratio_pct(part: int, whole: int) -> float:
    return 100.0 * part / whole


def _counts_for(endpoints: dict[str, Any], endpoint: str | None) -> OutcomeCounts:
    total = OutcomeCounts()
    for name, recording in endpoints.items():
        if endpoint is None or name == endpoint:
            total.add(recording.counts)
    return total


def _latency_for(endpoints: dict[str, Any], endpoint: str | None, empty: Callable[[], HdrHistogram]) -> HdrHistogram:
    if endpoint is not None:
        recording = endpoints.get(endpoint)
        return recording.latency if recording is not None else empty()
    merged = empty()
    for recording in endpoints.values():
        hdr.merge_into(merged, recording.latency)
    return merged


def _measure(gate: Gate, endpoints: dict[str, Any], named: dict[str, HdrHistogram],
             counters: dict[str, float] | None, empty: Callable[[], HdrHistogram]) -> _Measurement:
    if gate.metric in ("latency", "named_latency"):
        if gate.metric == "latency":
            histogram = _latency_for(endpoints, gate.endpoint, empty)
        else:
            histogram = named.get(gate.histogram or "") or empty()
        count = histogram.get_total_count()
        return _Measurement(hdr.percentile_ms(histogram, gate.percentile or 99.0), count)
    if gate.metric in ("availability", "error_rate"):
        counts = _counts_for(endpoints, gate.endpoint)
        if counts.requests == 0:
            return _Measurement(None, 0)
        bad = counts.unavailable if gate.metric == "availability" else counts.errors
        value = 100.0 - _ratio_pct(bad, counts.requests) if gate.metric == "availability" else _ratio_pct(
            bad, counts.requests)
        return _Measurement(value, counts.requests)
    # counter_success: only whole-run counters exist
    if counters is None:
        return _Measurement(None, 0)
    total = counters.get(gate.total_counter or "")
    failed = counters.get(gate.failed_counter or "")
    if not total or failed is None:
        return _Measurement(None, 0)
    return _Measurement(100.0 - 100.0 * failed / total, int(total))


def window_min_samples_for(gate: Gate, window_min_samples: int) -> int:
    """Ratio gates also need enough samples that one bad request cannot fail a window on its own:
    availability >= 99.95 % is judged only in windows of >= 2,000 requests, error_rate < 1 % in >= 100."""
    allowed_bad_pct = {"availability": 100.0 - gate.threshold, "error_rate": gate.threshold}.get(gate.metric)
    if allowed_bad_pct is None or allowed_bad_pct <= 0:
        return window_min_samples
    return max(window_min_samples, math.ceil(100.0 / allowed_bad_pct - 1e-9))


def _judge_windows(gate: Gate, recorder: LatencyRecorder, min_samples: int) -> tuple[int, list[WindowVerdict]]:
    min_samples = window_min_samples_for(gate, min_samples)
    judged = 0
    failed: list[WindowVerdict] = []
    if not gate.per_window or gate.metric == "counter_success":
        return judged, failed
    for index in recorder.window_indices():
        window: WindowRecording = recorder.windows[index]
        measurement = _measure(gate, window.endpoints, window.named, None, hdr.new_window_histogram)
        if measurement.value is None or measurement.samples < min_samples:
            continue
        judged += 1
        if not gate.passes(measurement.value):
            failed.append(WindowVerdict(index, index * recorder.window_s, measurement.value, measurement.samples))
    return judged, failed


def evaluate_gate(gate: Gate, result: RunResult, window_min_samples: int) -> GateResult:
    recorder = result.recorder
    whole = _measure(gate, recorder.endpoints, recorder.named, result.counters, hdr.new_run_histogram)
    if whole.value is None:
        return GateResult(gate, "no_data", None, 0, None, 0, ())
    whole_passed = gate.passes(whole.value)
    judged, failed_windows = _judge_windows(gate, recorder, window_min_samples)
    status: Status = "pass" if whole_passed and not failed_windows else "fail"
    return GateResult(gate, status, whole.value, whole.samples, whole_passed, judged, tuple(failed_windows))


def evaluate_gates(result: RunResult, gates: GateSet | Sequence[Gate] | None = None) -> GateReport:
    """Judge every gate over the whole run and per window. ``gates`` defaults to the seeds' SLOs."""
    gate_set = gates if isinstance(gates, GateSet) else GateSet(tuple(gates) if gates is not None else DEFAULT_GATES)
    results = tuple(evaluate_gate(gate, result, gate_set.window_min_samples) for gate in gate_set.gates)
    return GateReport(results, gate_set.window_min_samples)


# -- configuring -----------------------------------------------------------------------------------------------
_GATE_FIELDS = {f.name for f in dataclasses.fields(Gate)}


def _gate_from_mapping(name: str, spec: dict[str, Any], base: Gate | None) -> Gate:
    unknown = set(spec) - _GATE_FIELDS
    if unknown:
        raise GateConfigError(f"gate {name!r}: unknown keys {sorted(unknown)} (allowed: {sorted(_GATE_FIELDS)})")
    try:
        if base is not None:
            gate = dataclasses.replace(base, **spec)
        else:
            gate = Gate(name=name, **spec)
    except TypeError as exc:
        raise GateConfigError(f"gate {name!r}: {exc}") from exc
    if gate.metric not in METRIC_UNITS:
        raise GateConfigError(f"gate {name!r}: metric must be one of {sorted(METRIC_UNITS)}, got {gate.metric!r}")
    if gate.op not in OPERATORS:
        raise GateConfigError(f"gate {name!r}: op must be one of {sorted(OPERATORS)}, got {gate.op!r}")
    if not isinstance(gate.threshold, (int, float)):
        raise GateConfigError(f"gate {name!r}: threshold must be a number")
    if gate.metric == "named_latency" and not gate.histogram:
        raise GateConfigError(f"gate {name!r}: named_latency needs 'histogram'")
    if gate.metric == "counter_success" and not (gate.total_counter and gate.failed_counter):
        raise GateConfigError(f"gate {name!r}: counter_success needs 'total_counter' and 'failed_counter'")
    return dataclasses.replace(gate, threshold=float(gate.threshold))


def load_gate_file(path: Path, base: GateSet | None = None) -> GateSet:
    """YAML: ``{window_min_samples: int, gates: {NAME: {threshold: .., ...} | off}}``; names that match a
    default gate modify it, new names define a gate (metric, op, threshold required), ``off`` removes one."""
    base = base or GateSet()
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GateConfigError(f"cannot read gate file {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("gates", {}), dict):
        raise GateConfigError(f"gate file {path}: expected a mapping with a 'gates' mapping")
    gates = {gate.name: gate for gate in base.gates}
    for name, spec in (document.get("gates") or {}).items():
        if spec is False or spec == "off":
            gates.pop(name, None)
            continue
        if not isinstance(spec, dict):
            raise GateConfigError(f"gate {name!r}: expected a mapping or 'off', got {spec!r}")
        gates[name] = _gate_from_mapping(name, spec, gates.get(name))
    min_samples = document.get("window_min_samples", base.window_min_samples)
    if not isinstance(min_samples, int) or min_samples < 1:
        raise GateConfigError(f"gate file {path}: window_min_samples must be a positive integer")
    return GateSet(tuple(gates.values()), min_samples)


def apply_overrides(gate_set: GateSet, overrides: Iterable[str]) -> GateSet:
    """Command-line overrides: ``NAME=THRESHOLD`` changes a threshold, ``NAME=off`` removes the gate,
    ``NAME.per_window=false`` judges it over the whole run only."""
    gates = {gate.name: gate for gate in gate_set.gates}
    for override in overrides:
        key, sep, value = override.partition("=")
        name, _, attribute = key.strip().partition(".")
        if not sep or not name:
            raise GateConfigError(f"gate override {override!r}: expected NAME=VALUE")
        if name not in gates:
            raise GateConfigError(f"gate override {override!r}: no gate named {name!r} (known: {sorted(gates)})")
        value = value.strip()
        if not attribute and value.lower() == "off":
            del gates[name]
        elif attribute in ("", "threshold"):
            try:
                gates[name] = dataclasses.replace(gates[name], threshold=float(value))
            except ValueError as exc:
                raise GateConfigError(f"gate override {override!r}: threshold must be a number") from exc
        elif attribute == "per_window":
            if value.lower() not in ("true", "false"):
                raise GateConfigError(f"gate override {override!r}: per_window must be true or false")
            gates[name] = dataclasses.replace(gates[name], per_window=value.lower() == "true")
        else:
            raise GateConfigError(f"gate override {override!r}: only threshold and per_window can be overridden")
    return GateSet(tuple(gates.values()), gate_set.window_min_samples)


def gate_set_from_options(gate_file: Path | None, overrides: Sequence[str] = (),
                          window_min_samples: int | None = None) -> GateSet:
    """One call for a command line: defaults, then the YAML file, then the flags."""
    gate_set = load_gate_file(gate_file) if gate_file is not None else GateSet()
    gate_set = apply_overrides(gate_set, overrides)
    if window_min_samples is not None:
        gate_set = GateSet(gate_set.gates, window_min_samples)
    return gate_set


def gate_to_dict(gate: Gate) -> dict[str, Any]:
    data = dataclasses.asdict(gate)
    data["unit"] = gate.unit
    return data


__all__ = [
    "DEFAULT_GATES", "Gate", "GateConfigError", "GateReport", "GateResult", "GateSet", "WindowVerdict",
    "apply_overrides", "evaluate_gates", "gate_set_from_options", "load_gate_file",
]
