"""``swsim capacity simulate``: flags reach the simulator, output is JSON or text, HTML is self-contained."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sim.errors import UsageError
from sim.queueing.command import register


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="swsim")
    capacity = parser.add_subparsers(dest="command").add_parser("capacity")
    register(capacity.add_subparsers(dest="capacity_command"))
    return parser.parse_args(["capacity", "simulate", *argv])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args = parse(*argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


SMALL = ("--dau", "20000", "--duration", "30m", "--start-hour", "18.5")


def test_json_summary_for_a_small_nominal_window(capsys: pytest.CaptureFixture[str]) -> None:
    summary = json.loads(run(capsys, *SMALL, "--json", "--seed", "3"))
    # Nominal at 20,000 DAU near the 19:00 peak: ~580/s * 0.02 = ~11.6 jobs/s, ~20,000 in 30 minutes.
    assert 15_000 < summary["arrivals"] < 22_000
    assert summary["succeeded"] == summary["arrivals"]
    assert summary["pool"] == "lambda(max_concurrency=1000)"
    assert summary["end_to_end"]["p95_s"] > 0
    assert summary["cost"]["invocations"] > 0


def test_fixed_pool_tight_provider_and_failures_reach_the_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    summary = json.loads(
        run(
            capsys, *SMALL, "--json", "--workers", "3", "--provider", "fitbit=1:5:10",
            "--non-transient-rate", "0.01", "--service-ms-median", "50", "--service-ms-p95", "120",
        )
    )
    assert summary["pool"] == "fixed(3)"
    assert summary["refusals"] > 0 and set(summary["refusals_by_provider"]) == {"fitbit"}
    assert summary["dead_lettered"] > 0
    assert summary["max_concurrency"] <= 3


def test_text_output_and_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report" / "queue.html"
    out = run(capsys, *SMALL, "--html", str(page), "--max-concurrency", "50")
    assert "end to end" in out and "Lambda cost" in out
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "<polyline" in html and "queue depth" in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_trace_input_and_simpy_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "arrivals.txt"
    trace.write_text("# seconds\n" + "\n".join(str(i * 0.05) for i in range(400)) + "\n")
    summary = json.loads(run(capsys, "--trace", str(trace), "--engine", "simpy", "--json", "--workers", "2"))
    assert summary["engine"] == "simpy" and summary["arrivals"] == 400


def test_workers_and_max_concurrency_are_exclusive() -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--workers", "3", "--max-concurrency", "10")
    assert exc.value.code == 2


@pytest.mark.parametrize("argv", [
    ("--service-ms-median", "500", "--service-ms-p95", "100"),
    ("--provider", "fitbit-no-spec"),
    ("--workers", "0"),
    ("--trace", "/nonexistent/arrivals.txt"),
])
def test_user_mistakes_are_usage_errors(argv: tuple[str, ...]) -> None:
    args = parse(*SMALL, *argv)
    with pytest.raises(UsageError):
        args.func(args)
