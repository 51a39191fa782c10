"""RTO and RPO move the way they should: a longer replication lag widens the window of acknowledged writes
missing in the DR region at the failure; a longer health-check interval delays detection and so recovery."""
from __future__ import annotations

import time
from typing import Iterator

import pytest

from botocore.exceptions import ClientError

from stack import aws_clients
from stack.faults import FaultContext, build_fault
from stack.region.pair import RegionPair
from stack.region.plan import RehearsalPlan
from stack.region.rehearsal import run_rehearsal, start_pair

pytestmark = pytest.mark.timeout(400)
FIGURES = ("rpo_lost_writes", "rpo_window_s", "detection_s", "rto_s", "rto_production_equivalent_s")
# The Nominal model's manual syncs only, ~8 writes/s (12,000 DAU at x144, night hours): dense enough that a 2 s lag
# always leaves acknowledged writes unreplicated; 16 users keep each under the API's per-user rate limit.
BASE = RehearsalPlan(users=16, dau=12_000, compress=144, kinds=("POST /v1/sync-jobs",), nominal_s=4.0, outage_s=9.0,
                     after_s=3.0, drain_s=20.0).with_overrides(check_timeout_s=0.3, dns_ttl_s=0.5, failback="automatic")


@pytest.fixture(scope="module")
def pair() -> Iterator[RegionPair]:
    pair = start_pair(BASE)
    yield pair
    pair.stop()


def test_region_faults_act_then_rpo_and_rto_follow_lag_and_interval(pair: RegionPair) -> None:
    # One test on one pair: a second pair would cost the shared 2-core machine another ~30 s of start-up.
    _replication_pause_and_region_dynamodb_down_act(pair)
    fast = run_rehearsal(BASE.with_overrides(replication_lag_s=0.2, check_interval_s=0.25), pair=pair).figures
    slow = run_rehearsal(BASE.with_overrides(replication_lag_s=2.0, check_interval_s=2.0), pair=pair).figures
    print("sweep", {k: (fast[k], slow[k]) for k in FIGURES})
    # RPO: with 8 writes/s, a 2 s lag leaves ~16 acknowledged jobs unreplicated, about 2 s deep; 0.2 s leaves ~1.
    assert slow["rpo_lost_writes"] > fast["rpo_lost_writes"]
    # The window is the age of the oldest unreplicated acknowledged write at the kill: at most the lag, less when
    # arrivals happen to leave a gap just before the kill (0.79 s was seen with a 2 s lag on a quiet machine).
    assert slow["rpo_window_s"] >= 0.5 and slow["rpo_window_s"] > fast["rpo_window_s"] + 0.4, (fast, slow)
    # Detection ~ (threshold - 1 .. threshold) x interval: 0.5-0.75 s vs 4-6 s, plus the loaded machine's delays
    # (seen up to +4 s); RTO = detection + TTL + the DR region's answer, so it follows.
    assert slow["detection_s"] > fast["detection_s"] + 1.0, (fast, slow)
    assert slow["rto_s"] > fast["rto_s"] and slow["rto_s"] >= slow["detection_s"], (fast, slow)
    # Nothing acknowledged is lost for good in either run.
    assert fast["acknowledged_missing_after_recovery"] == 0 == slow["acknowledged_missing_after_recovery"]


def _replication_pause_and_region_dynamodb_down_act(pair: RegionPair) -> None:
    topology = pair.topology
    assert topology is not None
    primary, dr, table = topology.primary, topology.dr, topology.table
    via_capture = {r: aws_clients.client("dynamodb", {**pair.region_aws_env(r),
                                                      "AWS_ENDPOINT_URL_DYNAMODB": topology.capture_urls[r]})
                   for r in (primary, dr)}
    dr_direct = aws_clients.client("dynamodb", pair.region_aws_env(dr))
    key = {"PK": {"S": "TEST#paused"}, "SK": {"S": "item"}}
    ctx = FaultContext.from_stack(pair.stack, seed=3)

    # replication_pause (FIS global-table-pause-replication): a write waits in the queue, and flows on resume.
    resume = build_fault({"name": "pause", "type": "replication_pause"}).apply(ctx)
    via_capture[primary].put_item(TableName=table, Item={**key, "v": {"N": "1"}})
    status = pair.replicator_status()
    assert status["paused"] and status["directions"][f"{primary}>{dr}"]["pending"] >= 1
    assert "Item" not in dr_direct.get_item(TableName=table, Key=key, ConsistentRead=True)
    resume()
    deadline = time.monotonic() + 30
    while "Item" not in dr_direct.get_item(TableName=table, Key=key, ConsistentRead=True):
        assert time.monotonic() < deadline, "the paused write never reached the DR table after resume"
        time.sleep(0.1)

    # region_dynamodb_down on the DR region: its services get 503 ServiceUnavailable, the primary's do not.
    restore = build_fault({"name": "dr-ddb", "type": "region_dynamodb_down", "target": {"region": "dr"}}).apply(ctx)
    with pytest.raises(ClientError) as refused:
        via_capture[dr].get_item(TableName=table, Key=key)
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert "Item" in via_capture[primary].get_item(TableName=table, Key=key)
    restore()
    assert "Item" in via_capture[dr].get_item(TableName=table, Key=key)
