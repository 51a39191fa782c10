"""``swsim gameday FILE`` runs a ``kind: region-outage`` file as the region rehearsal (its own two regions), a file
without a kind as catalog experiments on one timeline, and refuses any other kind. The rehearsal itself is tested
in tests/region; here it is replaced by a stand-in, so nothing starts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import stack.region.rehearsal as rehearsal
from sim.cli import main
from stack.region.plan import RehearsalPlan
from stack.region.rehearsal import Invariant, RehearsalResult

REPO = Path(__file__).resolve().parents[2]
REGION_FILE = REPO / "scenarios" / "chaos" / "gamedays" / "region-outage.yaml"


def _swsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_unknown_kinds_and_bad_region_files_are_usage_errors(tmp_path: Path) -> None:
    odd = tmp_path / "odd.yaml"
    odd.write_text("name: odd\nkind: az-outage\n")
    run = _swsim("gameday", str(odd))
    assert run.returncode == 2 and f"{odd}: unknown gameday kind 'az-outage'" in run.stderr, run.stderr
    assert "'region-outage'" in run.stderr and "Traceback" not in run.stderr
    bad = tmp_path / "bad-region.yaml"
    bad.write_text("name: r\nkind: region-outage\nregion: {check_interval_s: 0}\n")
    run = _swsim("gameday", str(bad), "--short")
    # The region plan's own check answers (not the timeline loader's "unknown key 'kind'"): the dispatch happened.
    assert run.returncode == 2 and "check_interval_s > 0" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    run = _swsim("gameday", str(REGION_FILE), "--stack-state", str(tmp_path))
    assert run.returncode == 2 and "--stack-state does not apply" in run.stderr, run.stderr


@pytest.mark.parametrize("held, code", [(True, 0), (False, 1)])
def test_a_region_outage_file_runs_the_region_rehearsal_in_its_short_form(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], held: bool,
        code: int) -> None:
    calls: list[tuple[RehearsalPlan, Path | None]] = []

    def stand_in(plan: RehearsalPlan, out_dir: Path | None = None, pair: Any = None, log: Any = None) -> Any:
        calls.append((plan, out_dir))
        return RehearsalResult(plan={}, timeline={}, figures={"detection_s": 1.5, "rto_s": 2.5, "rto_production_equivalent_s": 90.0,
                                                               "rpo_lost_writes": 1, "rpo_window_s": 0.4,
                                                               "stranded_jobs": 0, "stranded_finished_after_recovery": 0,
                                                               "failback_after_recovery_s": 3.0,
                                                               "first_primary_ack_after_recovery_s": 4.0,
                                                               "load_requests_by_phase": {}},
                               seeds=[{"seed": "000", "metric": "rto", "limit_s": 900.0, "holds": True}],
                               invariants=[Invariant("dr_serves_after_failover", held, "stand-in")])

    monkeypatch.setattr(rehearsal, "run_rehearsal", stand_in)
    assert main(["gameday", str(REGION_FILE), "--short", "--out", str(tmp_path / "out")]) == code
    [(plan, out_dir)] = calls
    assert plan.name == "region-outage" and plan.region.check_interval_s == 0.5   # the file's short form
    assert out_dir == tmp_path / "out"
    printed = capsys.readouterr()
    assert "detection 1.5 s, RTO 2.5 s" in printed.out and "seed 000 RTO < 900 s: holds" in printed.out
    if not held:
        assert "dr_serves_after_failover" in printed.err
