"""Fixtures: one backend (moto, Redis, identity) per test process, and API processes configured per need."""
from __future__ import annotations

import uuid
from typing import Iterator

import httpx
import pytest
import logging

from moto.server import ThreadedMotoServer

from stack.identity import TokenMinter
from .harness import Backend, Proc, create_aws_resources, start_process, start_redis

# Generous limits for the functional API so tests are not throttled by each other; the limit tests start their
# own API with small numbers.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

RELAXED = {"api": {"user_rate_per_s": 10000, "user_burst": 10000, "ip_limit": 1000000, "ip_window_s": 300}}


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    workdir = tmp_path_factory.mktemp("stack_api")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    redis_proc, redis_url = start_redis(workdir)
    keys_dir = workdir / "keys"
    identity = start_process(["-m", "stack.identity", "--keys-dir", str(keys_dir)], {},
                             workdir / "identity.stderr")
    backend = Backend(moto_url=f"http://{host}:{port}", redis_url=redis_url, identity=identity,
                      keys_dir=keys_dir, workdir=workdir)
    create_aws_resources(backend)
    try:
        yield backend
    finally:
        identity.stop()
        redis_proc.terminate()
        redis_proc.wait(5)
        moto.stop()


@pytest.fixture(scope="session")
def minter(backend: Backend) -> TokenMinter:
    return TokenMinter(backend.keys_dir)


@pytest.fixture(scope="session")
def api(backend: Backend) -> Iterator[Proc]:
    proc = backend.start_api("main", RELAXED)
    yield proc
    proc.stop()


@pytest.fixture
def client(api: Proc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=10) as http:
        yield http


@pytest.fixture
def user(backend: Backend) -> tuple[str, dict[str, str]]:
    """A fresh user with active Strava and Fitbit connections."""
    user_id = f"u{uuid.uuid4().hex[:12]}"
    return user_id, backend.add_user(user_id)


def auth(minter: TokenMinter, user_id: str, issuer: str = "firebase") -> dict[str, str]:
    return {"Authorization": f"Bearer {minter.mint(issuer, user_id)}"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
