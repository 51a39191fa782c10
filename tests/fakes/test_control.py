"""The control API: users (single and bulk), clock, counters, config validation."""
from __future__ import annotations

import pytest

from fake_providers.control import ControlAPIError

from .conftest import auth, data_call


def test_bulk_users_and_counters(fake, http):
    users = fake.control.create_users(50, prefix="load", history_days=30)
    assert len(users) == 50 and users[0]["user_id"] == "load1"
    for u in users[:5]:
        assert data_call(http, fake, u["access_token"]).status_code == 200
    c = fake.control.counters()
    route = next(iter(c["calls"]))
    assert sum(c["calls"][route].values()) == 5
    assert set(c["calls"][route]) == {u["user_id"] for u in users[:5]}
    assert c["statuses"]["200"] == 5 and c["bytes_sent"] > 0
    fake.control.reset_counters()
    assert fake.control.counters()["requests"] == 0


def test_clock_set_advance_freeze(fake):
    fake.control.set_clock(1_800_000_000, frozen=True)
    assert fake.control.now() == 1_800_000_000
    fake.control.advance(60)
    assert fake.control.now() == 1_800_000_060
    fake.control.freeze(False)
    assert fake.control.now() >= 1_800_000_060


@pytest.mark.parametrize("patch", [{"nope": 1}, {"heavy_bytes": "big"}, {"rate_limits": {"zzz": 1}},
                                   {"webhook_auto": "yes"}])
def test_config_validation(fake, patch):
    with pytest.raises(ControlAPIError) as e:
        fake.control.set_config(**patch)
    assert e.value.status == 400 and e.value.body["message"]


def test_unknown_user_is_404(fake):
    with pytest.raises(ControlAPIError) as e:
        fake.control.user("nobody")
    assert e.value.status == 404


def test_seed_changes_data(fake, http):
    fake.control.set_clock(1_790_000_000, frozen=True)
    u = fake.control.create_user(user_id="4242", history_days=20)
    a = fake.control.user(u["user_id"])["visible_workouts"], fake.control.user(u["user_id"])["profile"]
    fake.control.seed(12345)
    b = fake.control.user(u["user_id"])["visible_workouts"], fake.control.user(u["user_id"])["profile"]
    assert a != b
    assert data_call(http, fake, u["access_token"]).status_code == 200
    _ = auth
