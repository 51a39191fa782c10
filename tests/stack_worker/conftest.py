from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest
from moto.server import ThreadedMotoServer

from stack.bootstrap import local_app_secret

from .harness import RedisServer, StackUnderTest, TcpToggleProxy, aws_env, set_env


@pytest.fixture(scope="session")
def moto_env() -> Iterator[dict[str, Any]]:
    """One moto server per test process; Secrets Manager reached through a proxy that tests can cut."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    secrets_proxy = TcpToggleProxy(host, port)
    saved = dict(os.environ)
    set_env(aws_env(moto_url, secrets_proxy.url))
    try:
        yield {"moto_url": moto_url, "secrets_proxy": secrets_proxy}
    finally:
        secrets_proxy.close()
        server.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def strava() -> Iterator[Any]:
    from fake_providers.testing import run_fake
    # Module-scoped: the app-wide 100 reads / 15 min would run out across tests (then the worker rightly waits for
    # the next window); provider rate limits are tested with the fakes' own faults instead.
    with run_fake("strava", client_id=local_app_secret("strava")["clientId"],
                  heavy_bytes=4000, upload_processing_seconds=0.5, webhook_auto=False,
                  rate_limits={"enabled": False}) as fake:
        yield fake


@pytest.fixture(scope="module")
def fitbit() -> Iterator[Any]:
    from fake_providers.testing import run_fake
    with run_fake("fitbit", client_id=local_app_secret("fitbit")["clientId"],
                  heavy_bytes=4000, webhook_auto=False, rate_limits={"enabled": False}) as fake:
        yield fake


@pytest.fixture(scope="module")
def garmin() -> Iterator[Any]:
    from fake_providers.testing import run_fake
    with run_fake("garmin", client_id=local_app_secret("garmin")["clientId"],
                  heavy_bytes=4000, webhook_auto=False, rate_limits={"enabled": False}) as fake:
        yield fake


@pytest.fixture
def make_stack(moto_env: dict[str, Any], redis_server: RedisServer, strava: Any
               ) -> Iterator[Callable[..., StackUnderTest]]:
    stacks: list[StackUnderTest] = []

    def make(tuning: dict[str, Any] | None = None, **provider_urls: str) -> StackUnderTest:
        fast = {"worker": {"backoff_base_s": 0.05, "backoff_cap_s": 1, "visibility_timeout_s": 10,
                           "poll_wait_s": 1, "retry_after_cap_s": 5},
                "token_buckets": {"strava": {"rate_per_s": 500, "burst": 500},
                                  "fitbit": {"rate_per_s": 500, "burst": 500},
                                  "garmin": {"rate_per_s": 500, "burst": 500}},
                "coalescer": {"delay_s": 0, "poll_wait_s": 1}}
        for section, values in (tuning or {}).items():
            fast.setdefault(section, {}).update(values)
        stack = StackUnderTest(redis_server.url, {"strava": strava.url, **provider_urls}, fast)
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            stack.stop()
