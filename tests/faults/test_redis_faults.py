"""Redis faults through the real TCP fault proxy in front of a real Redis server (redis-server, else fakeredis)."""
from __future__ import annotations

import time
from typing import Iterator

import pytest
import redis

from stack.faults import FaultContext, build_fault
from stack.faults.redis_proxy import RedisProxyClient
from tests.faults.procs import Child, poll


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Child]:
    child = Child(["-m", "stack.launcher.fake_redis_service", "--port", "0"])
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture(scope="module")
def proxy(redis_server: Child) -> Iterator[Child]:
    child = Child(["-m", "stack.faults.redis_proxy", "--upstream", redis_server.url, "--seed", "3"])
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture
def ctx(proxy: Child) -> FaultContext:
    return FaultContext(redis_proxy_url=str(proxy.ready["control_url"]), seed=9)


def connect(proxy: Child) -> redis.Redis:
    return redis.Redis.from_url(proxy.url, socket_connect_timeout=2, socket_timeout=5)


def test_redis_outage_refuses_connections_and_recovers(ctx, proxy) -> None:
    client = connect(proxy)
    client.set("k", "v")
    rollback = build_fault({"name": "cache-down", "type": "redis_outage"}).apply(ctx)
    with pytest.raises(redis.ConnectionError) as info:
        connect(proxy).ping()
    assert "refused" in str(info.value).lower()
    with pytest.raises(redis.ConnectionError):
        client.get("k")  # the open connection was dropped too
    rollback()
    assert connect(proxy).get("k") == b"v"   # the data survived: only the network path failed
    assert RedisProxyClient(str(proxy.ready["control_url"])).toxics() == []


def timed_get(client: redis.Redis) -> float:
    started = time.perf_counter()
    client.get("k")
    return time.perf_counter() - started


def test_redis_latency_delays_every_reply(ctx, proxy) -> None:
    client = connect(proxy)
    client.set("k", "v")
    rollback = build_fault({"name": "cache-slow", "type": "redis_latency",
                            "attributes": {"latency_ms": 200}}).apply(ctx)
    slow = min(timed_get(client) for _ in range(3))
    rollback()
    assert slow >= 0.2
    assert min(timed_get(client) for _ in range(3)) < 0.2


def test_redis_drop_resets_open_connections_and_new_ones_by_probability(ctx, proxy) -> None:
    client = connect(proxy)
    client.ping()
    rollback = build_fault({"name": "cache-drop", "type": "redis_drop", "probability": 1.0}).apply(ctx)
    with pytest.raises(redis.ConnectionError):
        client.ping()          # its connection was reset, and every reconnection is reset too (p = 1)
    counters = RedisProxyClient(str(proxy.ready["control_url"])).counters()
    assert counters["dropped"] >= 1 and counters["reset"] >= 1
    rollback()
    poll(lambda: _ping(proxy), lambda ok: ok, timeout_s=10)


def _ping(proxy: Child) -> bool:
    try:
        return bool(connect(proxy).ping())
    except redis.ConnectionError:
        return False
