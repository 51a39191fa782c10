"""``summary.json``: the stable, documented digest of a run (schema in reports/SCHEMA.md)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from reports import histogram as hdr
from reports.gates import GateReport, GateResult, gate_to_dict
from reports.recorder import LatencyRecorder, OutcomeCounts
from reports.result import RunResult

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 6) if whole else None


def _counts_block(counts: OutcomeCounts) -> dict[str, Any]:
    return {
        "requests": counts.requests,
        "errors": counts.errors,
        "unavailable": counts.unavailable,
        "transport_errors": counts.transport_errors,
        "late_starts": counts.late_starts,
        "error_rate_pct": _pct(counts.errors, counts.requests),
        "availability_pct": (100.0 - _pct(counts.unavailable, counts.requests)) if counts.requests else None,
    }


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 3) if seconds > 0 else None


def _achieved_vs_target(recorder: LatencyRecorder, span_s: float) -> dict[str, Any]:
    """Target: scheduled events over the schedule's span. Achieved: starts that happened within that span."""
    span = max(span_s, 1e-9)
    last_window = recorder.window_index(span_s)
    started_in_span = sum(w.started for i, w in recorder.windows.items() if i < last_window)
    full_windows_s = last_window * recorder.window_s
    scheduled_in_span = sum(w.scheduled for i, w in recorder.windows.items() if i < last_window)
    return {
        "target_rps": _rate(recorder.scheduled, span),
        "achieved_rps": _rate(started_in_span, full_windows_s) if full_windows_s else _rate(
            sum(w.started for w in recorder.windows.values()), span),
        "target_rps_full_windows": _rate(scheduled_in_span, full_windows_s) if full_windows_s else None,
    }


LATE_SHARE_WARNING = 0.01  # more late starts than this and the generator (or its pool) is part of the result


def run_warnings(result: RunResult) -> list[str]:
    """Reasons to doubt that the figures measure the target rather than the load generator."""
    warnings: list[str] = []
    recorder = result.recorder
    totals = recorder.totals()
    if totals.requests and totals.late_starts / totals.requests > LATE_SHARE_WARNING:
        lag = hdr.summarize(recorder.start_lag)
        warnings.append(f"{totals.late_starts} of {totals.requests} requests started late (start lag p99 "
                        f"{lag['p99']} ms): the pool (pool_size {result.info.pool_size}) or the load processes' CPU "
                        "could not keep up; latencies include that lateness")
    duration = max(result.info.duration_s, 1e-9)
    for part in result.parts:
        if part.cpu_s / duration > 0.9:
            warnings.append(f"load process {part.part_id} used {100.0 * part.cpu_s / duration:.0f} % of a core: "
                            "add workers (--workers) before trusting these latencies")
    if recorder.not_started:
        warnings.append(f"{recorder.not_started} scheduled requests never started before the drain deadline")
    return warnings


def _windows_block(result: RunResult) -> list[dict[str, Any]]:
    recorder = result.recorder
    rows: list[dict[str, Any]] = []
    for index in recorder.window_indices():
        window = recorder.windows[index]
        counts = OutcomeCounts()
        merged = hdr.new_window_histogram()
        for recording in window.endpoints.values():
            counts.add(recording.counts)
            hdr.merge_into(merged, recording.latency)
        latency = hdr.summarize(merged)
        rows.append({
            "index": index,
            "start_s": round(index * recorder.window_s, 6),
            "end_s": round((index + 1) * recorder.window_s, 6),
            "scheduled": window.scheduled,
            "started": window.started,
            "completed": window.completed,
            "target_rps": _rate(window.scheduled, recorder.window_s),
            "achieved_rps": _rate(window.started, recorder.window_s),
            **_counts_block(counts),
            "latency_ms": latency,
            "endpoints": {
                name: {**_counts_block(rec.counts), "latency_ms": hdr.summarize(rec.latency)}
                for name, rec in sorted(window.endpoints.items())
            },
            "named": {name: hdr.summarize(h) for name, h in sorted(window.named.items())},
            "errors_by_kind": dict(sorted(window.errors_by_kind.items())),
        })
    return rows


def _gate_result_block(result: GateResult) -> dict[str, Any]:
    return {
        **gate_to_dict(result.gate),
        "status": result.status,
        "measured": result.measured,
        "samples": result.samples,
        "whole_run_passed": result.whole_run_passed,
        "windows_judged": result.windows_judged,
        "failed_windows": [
            {"index": w.index, "start_s": w.start_s, "measured": w.measured, "samples": w.samples}
            for w in result.failed_windows
        ],
        "message": result.failure_message() if result.status == "fail" else None,
    }


def build_summary(result: RunResult, gate_report: GateReport | None,
                  extra_series: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> dict[str, Any]:
    recorder = result.recorder
    info = result.info
    totals = recorder.totals()
    duration = info.duration_s
    endpoints: dict[str, Any] = {}
    for name, recording in sorted(recorder.endpoints.items()):
        locust = result.locust.get(name)
        endpoints[name] = {
            **_counts_block(recording.counts),
            "throughput_rps": _rate(recording.counts.requests, duration),
            "latency_ms": hdr.summarize(recording.latency),
            "locust_latency_ms": None if locust is None else {
                "p50": locust.p50_ms, "p95": locust.p95_ms, "p99": locust.p99_ms, "max": locust.max_ms,
                "avg": locust.avg_ms, "requests": locust.num_requests, "failures": locust.num_failures,
            },
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "target_url": info.target_url,
            "started_at": info.started_at,
            "duration_s": round(duration, 6),
            "schedule_span_s": round(info.schedule_span_s, 6),
            "window_s": info.window_s,
            "workers": info.workers,
            "pool_size": info.pool_size,
            "late_threshold_ms": info.late_threshold_ms,
            "request_timeout_s": info.request_timeout_s,
            "drained": info.drained,
            "notes": list(info.notes),
            "warnings": run_warnings(result),
            "scheduled": recorder.scheduled,
            "skipped": recorder.skipped,
            "not_started": recorder.not_started,
            **_achieved_vs_target(recorder, info.schedule_span_s),
        },
        "totals": {
            **_counts_block(totals),
            "throughput_rps": _rate(totals.requests, duration),
            "latency_ms": hdr.summarize(recorder.all_endpoints_latency()),
        },
        "start_lag_ms": hdr.summarize(recorder.start_lag),
        "endpoints": endpoints,
        "named": {name: hdr.summarize(h) for name, h in sorted(recorder.named.items())},
        "errors_by_kind": dict(sorted(recorder.errors_by_kind.items())),
        "counters": dict(sorted(result.counters.items())),
        "parts": [
            {"part_id": p.part_id, "requests": p.requests, "scheduled": p.scheduled,
             "late_starts": p.late_starts, "errors": p.errors, "cpu_s": p.cpu_s}
            for p in result.parts
        ],
        "windows": _windows_block(result),
        "gates": None if gate_report is None else {
            "passed": gate_report.passed,
            "exit_code": gate_report.exit_code,
            "window_min_samples": gate_report.window_min_samples,
            "results": [_gate_result_block(r) for r in gate_report.results],
        },
        "series": {name: [[t, v] for t, v in points] for name, points in sorted((extra_series or {}).items())},
    }
