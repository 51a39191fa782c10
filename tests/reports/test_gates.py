"""SLO gates: the seeds' defaults, whole-run and per-window judgement, overrides, JUnit output, exit codes."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports.gates import (DEFAULT_GATES, GateConfigError, GateSet, apply_overrides, evaluate_gates,
                           gate_set_from_options, load_gate_file)
from reports.junit import build_junit
from reports.result import RunResult


def _by_name(report, name):
    return next(r for r in report.results if r.gate.name == name)


def test_default_gates_are_the_seed_slos() -> None:
    gates = {g.name: (g.metric, g.op, g.threshold) for g in DEFAULT_GATES}
    assert gates == {
        "api_p99": ("latency", "<", 500.0),
        "availability": ("availability", ">=", 99.95),
        "sync_success": ("counter_success", ">=", 99.9),
        "manual_sync_p95": ("named_latency", "<", 15000.0),
        "error_rate": ("error_rate", "<", 1.0),
    }


def test_healthy_run_passes_and_absent_data_is_no_data(healthy_result: RunResult) -> None:
    report = evaluate_gates(healthy_result)
    assert report.passed and report.exit_code == 0
    assert _by_name(report, "api_p99").status == "pass"
    assert _by_name(report, "api_p99").windows_judged == 3
    assert _by_name(report, "sync_success").status == "no_data"
    assert _by_name(report, "manual_sync_p95").status == "no_data"


def test_slow_endpoint_fails_api_p99_with_exit_1_and_a_junit_failure_naming_the_gate(make_result) -> None:
    result = make_result(lambda rng, at: rng.uniform(5, 50))
    make_result(lambda rng, at: rng.uniform(600, 900), endpoint="GET /v1/slow", recorder=result.recorder, rate=5)
    report = evaluate_gates(result)
    assert report.exit_code == 1
    failed = [r.gate.name for r in report.failed()]
    assert failed == ["api_p99"]
    suite = build_junit(report).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "5"
    case = next(c for c in suite.iter("testcase") if c.get("name") == "api_p99")
    failure = case.find("failure")
    assert failure is not None
    assert "api_p99" in failure.get("message", "") and "< 500 ms" in failure.get("message", "")
    assert "measured" in failure.get("message", "")
    assert next(c for c in suite.iter("testcase") if c.get("name") == "sync_success").find("skipped") is not None


def test_one_bad_window_fails_a_gate_the_whole_run_passes(make_result) -> None:
    # 1 % of everything is slow, but all of it in the second window: whole-run p99 borderline, window p99 fails
    result = make_result(lambda rng, at: 900.0 if 10 <= at < 11 else 10.0, rate=100, seconds=30)
    gate = _by_name(evaluate_gates(result, GateSet(DEFAULT_GATES)), "api_p99")
    assert gate.whole_run_passed is False or gate.failed_windows
    assert [w.index for w in gate.failed_windows] == [1]
    assert gate.status == "fail"
    whole_only = apply_overrides(GateSet(), ["api_p99.per_window=false", "api_p99=1000"])
    assert _by_name(evaluate_gates(result, whole_only), "api_p99").status == "pass"


def test_windows_with_too_few_samples_are_not_judged(make_result) -> None:
    result = make_result(lambda rng, at: 10.0, rate=5, seconds=30, status=lambda i: 503 if i == 3 else 200)
    availability = _by_name(evaluate_gates(result, GateSet(DEFAULT_GATES, window_min_samples=100)), "availability")
    assert availability.windows_judged == 0  # 50 samples per window
    assert availability.status == "fail"  # but 1 in 150 over the whole run is 99.33 %


def test_sync_success_from_caller_counters(healthy_result: RunResult) -> None:
    healthy_result.add_counter("sync_jobs_accepted", 10_000)
    healthy_result.add_counter("sync_jobs_dlq", 5)
    assert _by_name(evaluate_gates(healthy_result), "sync_success").status == "pass"
    healthy_result.add_counter("sync_jobs_dlq", 11)
    sync = _by_name(evaluate_gates(healthy_result), "sync_success")
    assert sync.status == "fail" and abs(sync.measured - 99.89) < 1e-9


def test_manual_sync_named_histogram_gate(make_result) -> None:
    result = make_result(lambda rng, at: 10.0)
    for i in range(200):
        result.record_async_latency("manual_sync", i * 0.1, 20.0 if i % 10 == 0 else 3.0)
    gate = _by_name(evaluate_gates(result), "manual_sync_p95")
    assert gate.status == "fail" and gate.measured > 15_000


def test_yaml_gate_file_modifies_adds_and_removes(tmp_path: Path, make_result) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text("""
window_min_samples: 10
gates:
  api_p99: {threshold: 40}
  error_rate: off
  connections_p95: {metric: latency, percentile: 95, endpoint: "GET /v1/connections", op: "<", threshold: 45}
""")
    gate_set = load_gate_file(path)
    names = [g.name for g in gate_set.gates]
    assert "error_rate" not in names and "connections_p95" in names and gate_set.window_min_samples == 10
    result = make_result(lambda rng, at: rng.uniform(5, 50))
    report = evaluate_gates(result, gate_set)
    assert {r.gate.name for r in report.failed()} == {"api_p99", "connections_p95"}


@pytest.mark.parametrize("text", ["gates: [1, 2]", "gates: {x: {metric: nope, op: '<', threshold: 1}}",
                                  "gates: {api_p99: {bogus: 1}}", "gates: {y: {metric: latency}}", ": :"])
def test_bad_gate_files_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    with pytest.raises(GateConfigError):
        load_gate_file(path)


@pytest.mark.parametrize("override", ["api_p99", "nope=3", "api_p99=fast", "api_p99.per_window=maybe",
                                      "api_p99.op=<"])
def test_bad_overrides_are_config_errors(override: str) -> None:
    with pytest.raises(GateConfigError):
        apply_overrides(GateSet(), [override])


def test_options_combine_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("gates: {api_p99: {threshold: 300}}")
    gate_set = gate_set_from_options(path, ["api_p99=250", "availability=off"], window_min_samples=7)
    gates = {g.name: g for g in gate_set.gates}
    assert gates["api_p99"].threshold == 250 and "availability" not in gates and gate_set.window_min_samples == 7


def test_junit_is_valid_xml_with_one_case_per_gate(healthy_result: RunResult, tmp_path: Path) -> None:
    from reports.junit import write_junit

    path = tmp_path / "junit.xml"
    write_junit(path, evaluate_gates(healthy_result))
    root = ET.parse(path).getroot()
    assert [c.get("name") for c in root.iter("testcase")] == [g.name for g in DEFAULT_GATES]


def test_gate_flags_parse_and_bad_ones_are_usage_errors(tmp_path: Path) -> None:
    import argparse

    from reports.gate_cli import add_gate_arguments, gate_set_from_args
    from sim.errors import UsageError

    parser = argparse.ArgumentParser()
    add_gate_arguments(parser)
    gate_set = gate_set_from_args(parser.parse_args(["--gate", "api_p99=250", "--window-min-samples", "5"]))
    assert {g.name: g.threshold for g in gate_set.gates}["api_p99"] == 250 and gate_set.window_min_samples == 5
    with pytest.raises(UsageError):
        gate_set_from_args(parser.parse_args(["--gate", "nope=1"]))
    with pytest.raises(UsageError):
        gate_set_from_args(parser.parse_args(["--gate-file", str(tmp_path / "missing.yaml")]))


def test_the_example_gate_file_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "reports" / "gates.example.yaml"
    gates = {g.name: g for g in load_gate_file(example).gates}
    assert gates["sync_jobs_post_p95"].endpoint == "POST /v1/sync-jobs" and gates["api_p99"].threshold == 500


def test_ratio_gates_judge_only_windows_where_one_bad_request_is_tolerable(make_result) -> None:
    from reports.gates import window_min_samples_for

    gates = {g.name: g for g in DEFAULT_GATES}
    assert window_min_samples_for(gates["availability"], 100) == 2000
    assert window_min_samples_for(gates["error_rate"], 100) == 100
    assert window_min_samples_for(gates["api_p99"], 100) == 100
    # 500 requests per window, one 503 in the first: 99.8 % in that window, but 99.97 % over the whole run
    result = make_result(lambda rng, at: 10.0, rate=50, seconds=80, status=lambda i: 503 if i == 3 else 200)
    availability = _by_name(evaluate_gates(result), "availability")
    assert availability.windows_judged == 0 and availability.status == "pass"
