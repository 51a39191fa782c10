"""The compose `seed` one-shot's code, run for real (only the seeding calls to AWS and the fakes are stood in for):
what it writes is what `swsim load --stack-state` and the scenario builders read, and its tokens are the ones the
API's configured issuers accept."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import jwt
import pytest

import stack.seed
from stack.identity.issuers import issuer_specs, write_issuers_file
from stack.identity.keys import load_keyring
from stack.seed import SeededConnection, SeededPair, SeededUser, SeedResult

from .agreement import Service, load_compose

ROOT = Path(__file__).resolve().parents[2]
USERS = 4


def stand_in_seed_users(config: Any, fake_urls: Mapping[str, str], count: int, env: Any = None, seed: int = 1,
                        **_: Any) -> SeedResult:
    """The shape stack.seed.seed_users returns, without AWS or the fakes (those are covered by the stack tests)."""
    assert set(fake_urls) == {"strava", "fitbit", "garmin"}
    users = []
    for i in range(count):
        source = SeededConnection(f"conn-s{i}", "strava", f"strava-{i}")
        destination = SeededConnection(f"conn-d{i}", "fitbit", f"fitbit-{i}")
        users.append(SeededUser(f"user-{i:06d}", "PRO" if i == 0 else "FREE", (source, destination),
                                (SeededPair(source.connection_id, destination.connection_id, "strava", "fitbit",
                                            "workout"),)))
    return SeedResult(users=users, seconds=0.01)


@pytest.fixture()
def seed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Service, Path]:
    services = load_compose((ROOT / "docker-compose.yml").read_text())
    seed, identity = services["seed"], services["identity"]
    keys, state = tmp_path / "keys", tmp_path / "state"
    state.mkdir()
    # The keys directory as the identity container leaves it (keys + issuers.json for its --host/--port).
    args = identity.invocations()[0].args
    host, port = args[args.index("--host") + 1], args[args.index("--port") + 1]
    write_issuers_file(keys, issuer_specs(f"http://{host}:{port}", identity.environment["AWS_DEFAULT_REGION"]))
    load_keyring(keys)
    for name, value in {**seed.environment, "SWSIM_STATE_DIR": str(state), "SWSIM_KEYS_DIR": str(keys),
                        "SWSIM_SEED_USERS": str(USERS)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(stack.seed, "seed_users", stand_in_seed_users)
    code = seed.invocations()[0].target
    exec(compile(code, "docker-compose.yml:seed", "exec"), {"__name__": "__main__"})   # noqa: S102
    return seed, state


def test_seed_writes_a_state_that_swsim_load_accepts(seed_run: tuple[Service, Path], tmp_path: Path) -> None:
    from sim.load import LoadOptions, _target_from_state

    seed, state = seed_run
    assert len(json.loads((state / "users.json").read_text())) == USERS
    target = _target_from_state(LoadOptions(stack_state=state, out_dir=tmp_path / "run"), tmp_path / "ctx.json")
    assert target.api_url == seed.environment["SWSIM_API_URL"]
    assert target.aws_env is not None
    assert target.aws_env["AWS_ENDPOINT_URL_SQS"] == seed.environment["AWS_ENDPOINT_URL_SQS"]
    # the queues swsim load samples (DLQ depth feeds the sync-success gate) are the ones the stack uses
    assert target.queue_names == (seed.environment["SYNCWELL_HOTPATH_QUEUE"], seed.environment["SYNCWELL_HOTPATH_DLQ"])
    context = json.loads((tmp_path / "ctx.json").read_text())
    assert {p: context["fake_urls"][p] for p in context["fake_urls"]} == {
        p: seed.environment[f"SYNCWELL_PROVIDER_URL_{p.upper()}"] for p in ("strava", "fitbit", "garmin")}


def test_seed_contexts_carry_tokens_the_api_issuers_accept(seed_run: tuple[Service, Path]) -> None:
    from scenarios.syncwell import parse_context

    seed, state = seed_run
    issuers = {i["issuer"]: i for i in json.loads(seed.environment["SYNCWELL_JWT_ISSUERS"])}
    for name, fake_host in (("context.json", None), ("context.host.json", "localhost")):
        context = parse_context(json.loads((state / name).read_text()))
        assert len(context.users) == USERS
        for user in context.users:
            claims = jwt.decode(user.token, options={"verify_signature": False})
            assert claims["iss"] in issuers, f"{name}: token issuer {claims['iss']} is not one the API trusts"
            assert claims["sub"] == user.user_id
        for provider, url in context.fake_urls.items():
            expected = seed.environment[f"SYNCWELL_PROVIDER_URL_{provider.upper()}"]
            if fake_host:
                expected = f"http://{fake_host}:{expected.rsplit(':', 1)[1]}"
            assert url == expected
    used = {jwt.decode(u.token, options={"verify_signature": False})["iss"]
            for u in parse_context(json.loads((state / "context.json").read_text())).users}
    assert used == set(issuers), "the load should exercise both issuers of the dual authorizer"


def test_host_context_fakes_are_published_on_the_same_host_ports() -> None:
    services = load_compose((ROOT / "docker-compose.yml").read_text())
    for provider in ("strava", "fitbit", "garmin"):
        fake = services[f"fake-{provider}"]
        assert fake.listening_ports() <= set(fake.published), f"fake-{provider} is not published on its own port"
    assert 8080 in services["api"].published and 8090 in services["identity"].published
