"""Pure logic units of the worker: conflict resolution, backoff, the credential cache, the Lua token bucket
(against a real redis-server), message parsing."""
from __future__ import annotations

import json
import random

import pytest

from stack.providers import ItemMeta
from stack.worker.conflicts import resolve
from stack.worker.credentials import LruTtlCache
from stack.worker.processor import parse_message
from stack.worker.requeue import Backoff
from stack.worker.tokenbucket import BucketSpec, NoToken, TokenBuckets


def _item(item_id: str, start: int, duration: int = 3600, updated: int | None = None, external_id: str | None = None,
          provider: str = "strava") -> ItemMeta:
    return ItemMeta(provider, item_id, "workout", start, duration, "RUN", updated if updated is not None else start + duration,
                    external_id=external_id)


def test_conflicts_skip_our_own_writes_even_shifted_by_a_time_zone():
    source = [_item("a", 1_000_000), _item("b", 2_000_000)]
    dest = [_item("x", 1_000_000 + 3 * 3600 + 20, provider="fitbit")]  # "a" written earlier, read in another zone
    decision = resolve(source, dest, "source_wins", {"a": "ext-a", "b": "ext-b"})
    assert [i.item_id for i in decision.to_write] == ["b"] and [i.item_id for i in decision.in_sync] == ["a"]
    assert resolve(source, [], "newest_wins", {"b": "ext-b"}, frozenset({"ext-b"})).in_sync == [source[1]]


@pytest.mark.parametrize("strategy,writes", [("newest_wins", True), ("source_wins", True), ("dest_wins", False)])
def test_conflict_strategies_on_a_different_destination_version(strategy, writes):
    source = [_item("a", 1_000_000, duration=3600, updated=1_000_000 + 9000)]
    dest = [_item("d", 1_000_000 + 30, duration=1800, updated=1_000_000 + 5000)]  # same moment, other content
    assert bool(resolve(source, dest, strategy, {"a": "ext-a"}).to_write) is writes
    older_source = [_item("a", 1_000_000, duration=3600, updated=1_000_000 + 100)]
    assert not resolve(older_source, dest, "newest_wins", {"a": "ext-a"}).to_write


def test_backoff_is_full_jitter_capped_and_honours_hints():
    backoff = Backoff(base_s=2, cap_s=300, rng=random.Random(7), hint_cap_s=900)
    draws = [backoff.delay(3) for _ in range(500)]
    assert 0 <= min(draws) and max(draws) <= 16 and len(set(draws)) > 5
    assert all(backoff.delay(20) <= 300 for _ in range(100))
    assert backoff.delay(0, at_least_s=120) >= 120 and backoff.delay(0, at_least_s=5000) == 900


def test_lru_ttl_cache_evicts_oldest_and_serves_stale_only_when_asked():
    now = [0.0]
    cache = LruTtlCache(2, ttl_s=300, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a").value == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") is not None
    now[0] = 301
    assert cache.get("a") is None and cache.get("a", allow_stale=True).value == 1


def test_lua_token_bucket_grants_burst_then_refuses_with_a_progress_hint(redis_server):
    buckets = TokenBuckets(redis_server.url, {"strava": BucketSpec(rate_per_s=0.5, burst=3)})
    for _ in range(3):
        buckets.take("strava")
    with pytest.raises(NoToken) as refused:
        buckets.take("strava")
    assert refused.value.reason == "bucket_empty" and refused.value.retry_after_s >= 5.0  # 3 tokens at 0.5/s
    redis_server.stop()
    with pytest.raises(NoToken) as down:
        buckets.take("strava")
    assert down.value.reason == "redis_unavailable" and not buckets.available
    buckets.close()


def test_parse_message_reads_receive_count_correlation_and_carried_throttles():
    body = {"jobId": "job_1", "userId": "u", "sourceConnectionId": "s", "destinationConnectionId": "d",
            "dataType": "workout", "idempotencyKey": "k", "correlationId": "from-body"}
    job = parse_message({"Body": json.dumps(body), "Attributes": {"ApproximateReceiveCount": "3"},
                         "MessageAttributes": {"correlationId": {"StringValue": "from-attr"},
                                               "swThrottleAttempts": {"StringValue": "4"}}})
    assert (job.receive_count, job.throttle_attempts, job.attempt, job.correlation_id) == (3, 4, 7, "from-attr")
    assert parse_message({"Body": "{}", "Attributes": {}}).parse_error.startswith("malformed")
