"""RTO and RPO move the way they should: a longer replication lag widens the window of acknowledged writes
missing in the DR region at the failure; a longer health-check interval delays detection and so recovery."""
from __future__ import annotations

from typing import Iterator

import pytest

from stack.region.pair import RegionPair
from stack.region.plan import RehearsalPlan
from stack.region.rehearsal import run_rehearsal, start_pair

pytestmark = pytest.mark.timeout(400)
FIGURES = ("rpo_lost_writes", "rpo_window_s", "detection_s", "rto_s", "rto_production_equivalent_s")
BASE = RehearsalPlan(users=8, rate_per_s=8.0, nominal_s=4.0, outage_s=9.0, after_s=3.0, drain_s=20.0).with_overrides(
    check_timeout_s=0.3, dns_ttl_s=0.5, failback="automatic")


@pytest.fixture(scope="module")
def pair() -> Iterator[RegionPair]:
    pair = start_pair(BASE)
    yield pair
    pair.stop()


def test_replication_lag_and_check_interval_drive_rpo_and_rto(pair: RegionPair) -> None:
    fast = run_rehearsal(BASE.with_overrides(replication_lag_s=0.2, check_interval_s=0.25), pair=pair).figures
    slow = run_rehearsal(BASE.with_overrides(replication_lag_s=2.0, check_interval_s=2.0), pair=pair).figures
    print("sweep", {k: (fast[k], slow[k]) for k in FIGURES})
    # RPO: with 8 writes/s, a 2 s lag leaves ~16 acknowledged jobs unreplicated, about 2 s deep; 0.2 s leaves ~1.
    assert slow["rpo_lost_writes"] > fast["rpo_lost_writes"]
    assert slow["rpo_window_s"] >= 1.0 and slow["rpo_window_s"] > fast["rpo_window_s"] + 0.8, (fast, slow)
    # Detection ~ (threshold - 1 .. threshold) x interval: 0.5-0.75 s vs 4-6 s, plus the loaded machine's delays
    # (seen up to +4 s); RTO = detection + TTL + the DR region's answer, so it follows.
    assert slow["detection_s"] > fast["detection_s"] + 1.0, (fast, slow)
    assert slow["rto_s"] > fast["rto_s"] and slow["rto_s"] >= slow["detection_s"], (fast, slow)
    # Nothing acknowledged is lost for good in either run.
    assert fast["acknowledged_missing_after_recovery"] == 0 == slow["acknowledged_missing_after_recovery"]
