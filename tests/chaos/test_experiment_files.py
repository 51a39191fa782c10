"""The experiment format and the catalog: every file parses, has a short form, and mistakes name file:line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.chaos.catalog import catalog
from sim.chaos.experiment import ExperimentError, parse_experiment
from sim.chaos.probes import phases_for

SEED_LIST = {"az_failure", "process_kill", "provider_latency", "aws_outage", "redis_outage", "dns_failure",
             "provider_429_storm", "token_revocation", "webhook_duplicates", "traffic_spike", "worker_crash_loop"}

MINIMAL = """\
name: t
load: {duration_s: 30}
short: {duration_s: 10, scale: 0.5}
method:
  - {name: down, type: redis_outage, start_s: 10, duration_s: 10}
steady_state:
  - {probe: api_p99_ms, max: 500}
invariants:
  - ledger
  - {check: no_third_party_calls_during, fault: down}
"""


def test_the_catalog_covers_the_seeds_list_and_every_file_has_a_short_form() -> None:
    experiments = catalog()
    types = {step.type for e in experiments.values() for step in e.method}
    assert SEED_LIST <= types
    services = {step.envelope["target"].get("service") for e in experiments.values() for step in e.method
                if step.type in ("aws_outage", "aws_error")}
    assert {"dynamodb", "sqs", "secretsmanager"} <= services
    for experiment in experiments.values():
        short = experiment.short_form()
        assert short.load.duration_s <= 16, experiment.name  # the whole catalog runs in the default test suite
        for step in short.method:  # every fault of the short form happens while the load runs
            assert step.start_s < short.load.duration_s, (experiment.name, step.name)
        assert experiment.invariants, experiment.name
        windows = [(s.start_s, s.end_s) for s in short.method if s.end_s is not None]
        phases = phases_for(windows, short.load.duration_s, short.recovery_s)
        for probe in short.steady_state:  # each judged phase holds at least one whole load window
            for phase in probe.phases:
                intervals = getattr(phases, phase)
                assert any(b - a >= short.load.window_s for a, b in intervals), (experiment.name, probe.probe, phase)


def test_short_form_scales_the_timeline() -> None:
    experiment = parse_experiment(MINIMAL).short_form()
    step = experiment.method[0]
    assert (step.start_s, step.duration_s, experiment.load.duration_s) == (5.0, 5.0, 10.0)
    assert step.envelope["start_s"] == 5.0


@pytest.mark.parametrize("text, expected", [
    (MINIMAL.replace("type: redis_outage", "type: redis_explodes"), ":5: fault 'down': unknown fault type"),
    (MINIMAL.replace("probe: api_p99_ms", "probe: vibes"), ":7: unknown probe 'vibes'"),
    (MINIMAL.replace("fault: down", "fault: up"), ":10: invariant 'no_third_party_calls_during' names fault 'up'"),
    (MINIMAL.replace("  - ledger", "  - ledgr"), "unknown invariant 'ledgr'"),
    (MINIMAL.replace("short: {duration_s: 10, scale: 0.5}\n", ""), "needs 'short'"),
    (MINIMAL.replace("method:", "method: [\n"), "malformed YAML"),
    (MINIMAL.replace("start_s: 10, duration_s", "start_s: 99, duration_s"), "after the load ends"),
    (MINIMAL.replace("name: t", "name: t\nsteady: 1"), ":1: unknown key(s) ['steady']"),
])
def test_mistakes_say_where_and_what(text: str, expected: str) -> None:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "exp.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("exp.yaml")


def _swsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=120)


def test_cli_lists_the_catalog_and_rejects_unknown_or_malformed_experiments(tmp_path: Path) -> None:
    listing = _swsim("chaos", "list")
    assert listing.returncode == 0, listing.stderr
    for name in ("redis-outage", "az-failure", "traffic-spike", "webhook-storm", "dns-failure"):
        assert name in listing.stdout
    unknown = _swsim("chaos", "run", "no-such-experiment")
    assert unknown.returncode == 2 and "unknown experiment 'no-such-experiment'" in unknown.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(MINIMAL.replace("probe: api_p99_ms", "probe: vibes"))
    malformed = _swsim("chaos", "run", str(broken))
    assert malformed.returncode == 2 and f"{broken}:7: unknown probe" in malformed.stderr
    assert "Traceback" not in malformed.stderr
    gameday = tmp_path / "gameday.yaml"
    gameday.write_text("name: g\nshort: {duration_s: 10}\nexperiments:\n  - {experiment: nope, at_s: 1}\n")
    bad_gameday = _swsim("gameday", str(gameday))
    assert bad_gameday.returncode == 2 and "unknown experiment 'nope'" in bad_gameday.stderr
