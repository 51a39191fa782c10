"""Rehearsal files: the bundled one in both forms, and mistakes reported as usage errors (exit 2)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import UsageError
from stack.region.plan import load_plan, plan_from_mapping
from stack.region.rehearsal import Invariant, RehearsalResult

REPO = Path(__file__).resolve().parents[2]
FILE = REPO / "scenarios" / "chaos" / "gamedays" / "region-outage.yaml"


def test_the_bundled_gameday_keeps_route53_defaults_in_full_and_scales_them_in_short() -> None:
    full, short = load_plan(FILE), load_plan(FILE, short=True)
    assert (full.region.check_interval_s, full.region.failure_threshold, full.region.dns_ttl_s) == (30, 3, 60)
    assert full.region.failback == "manual" and full.time_scale == 1.0
    assert full.region.check_path == short.region.check_path == "/health"  # the seeds' shallow check (003)
    assert short.region.check_interval_s == 0.5 and short.time_scale == 60.0
    assert short.region.replication_lag_s == full.region.replication_lag_s
    # Both forms replay the Nominal model's whole mix; the short one at make demo's 2,000 DAU x 144.
    assert full.model == short.model == "nominal" and full.kinds == short.kinds == ()
    assert (short.dau, short.compress) == (2000, 144) and short.locust_users >= 1
    assert full.dau * full.compress >= short.dau * short.compress / 2  # not a lighter load in the full form


@pytest.mark.parametrize("data, message", [
    ({"region": {"lagg": 1}}, "unknown key"),
    ({"kind": "other"}, "kind must be"),
    ({"fault": {"name": "x", "type": "nope"}}, "unknown fault type"),
    ({"region": {"failback": "sometimes"}}, "failback"),
    ({"region": {"check_interval_s": 0}}, "check_interval_s > 0"),
    ({"region": {"check_path": "health/deep"}}, "check_path must be a path"),
    ({"load": {"rate_per_s": 6}}, "unknown key"),
    ({"load": {"model": "weekend"}}, "unknown traffic model"),
    ({"load": {"kinds": ["POST /v1/nothing"]}}, "unknown kind"),
    ({"load": {"kinds": "POST /v1/sync-jobs"}}, "list of request kinds"),
    ({"load": {"dau": 0}}, "dau >= 1"),
    ({"load": {"compress": "fast"}}, "not supported"),
])
def test_mistakes_name_the_problem(data: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_from_mapping(data, "f.yaml")


def test_a_failed_invariant_makes_the_exit_code_one() -> None:
    ok = RehearsalResult(plan={}, timeline={}, figures={}, seeds=[], invariants=[Invariant("a", True, "")])
    bad = RehearsalResult(plan={}, timeline={}, figures={}, seeds=[],
                          invariants=[Invariant("a", True, ""), Invariant("b", False, "why")])
    assert (ok.exit_code, bad.exit_code) == (0, 1)


def test_cli_usage_error_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nregion: {nope: 1}\n")
    run = subprocess.run([sys.executable, "-m", "sim", "region", "rehearse", str(bad)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "unknown key" in run.stderr and "Traceback" not in run.stderr
