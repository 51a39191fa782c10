"""Faults: every type takes effect deterministically at probability 1 (and under a seed at 0 < p < 1), never at
probability 0; malformed definitions are refused with a 400 that says what is wrong."""
from __future__ import annotations

import time

import httpx
import pytest

from fake_providers.control import ControlAPIError
from fake_providers.core.faults import FaultEngine
from fake_providers.testing import WebhookReceiver

from .conftest import auth, data_call

ROUTE = {"strava": "/api/v3/athlete/activities", "fitbit": "/1/user/-/activities/list.json",
         "garmin": "/wellness-api/rest/user/id"}


def _statuses(http, fake, token, n):
    return [data_call(http, fake, token).status_code for _ in range(n)]


def test_error_fault_uses_the_providers_body(fake, http):
    u = fake.control.create_user()
    fake.control.add_fault("e503", "error", {"route": ROUTE[fake.provider], "method": "GET"},
                           attributes={"status": 503})
    r = data_call(http, fake, u["access_token"])
    assert r.status_code == 503
    body = r.json()
    if fake.provider == "strava":
        assert body["message"] == "Service Unavailable" and isinstance(body["errors"], list)
        assert "X-RateLimit-Usage" in r.headers
    elif fake.provider == "fitbit":
        assert body["success"] is False and body["errors"][0]["errorType"] == "system"
    else:
        assert body == {"errorMessage": "Service Unavailable"}
    assert fake.control.counters()["faults_fired"]["e503"] == 1


def test_probability_zero_never_fires(fake, http):
    u = fake.control.create_user()
    for t, attrs in [("error", {"status": 500}), ("rate_limit_storm", {}), ("connection_reset", {}),
                     ("empty_body", {}), ("malformed_body", {}), ("token_revocation", {}),
                     ("latency", {"ms": 2000}), ("hang", {"seconds": 30})]:
        fake.control.add_fault(f"never-{t}", t, {"route": ROUTE[fake.provider]}, probability=0.0,
                               attributes=attrs)
    t0 = time.time()
    assert _statuses(http, fake, u["access_token"], 25) == [200] * 25
    assert time.time() - t0 < 10
    faults = fake.control.faults()
    assert all(f["hits"] == 0 and f["matches"] == 25 for f in faults)


def test_probability_is_deterministic_under_a_seed(strava, http):
    def run(seed):
        strava.control.reset()
        strava.control.seed(seed)
        u = strava.control.create_user()
        strava.control.add_fault("half", "error", {"route": ROUTE["strava"]}, probability=0.5,
                                 attributes={"status": 500})
        strava.control.set_config(rate_limits={"enabled": False})
        return _statuses(http, strava, u["access_token"], 40)

    a, b, c = run(11), run(11), run(12)
    assert a == b
    assert 8 < a.count(500) < 32
    assert a != c


def test_targets_user_route_method(strava, http):
    a, b = strava.control.create_user(), strava.control.create_user()
    strava.control.add_fault("only-a", "error", {"provider": "strava", "route": "/api/v3/athlete/*",
                                                 "method": "GET", "user": a["user_id"]},
                             attributes={"status": 502})
    assert data_call(http, strava, a["access_token"]).status_code == 502
    assert data_call(http, strava, b["access_token"]).status_code == 200
    assert http.get(f"{strava.url}/api/v3/athlete", headers=auth(a["access_token"])).status_code == 200
    strava.control.delete_fault("only-a")
    assert data_call(http, strava, a["access_token"]).status_code == 200


def test_max_hits(strava, http):
    u = strava.control.create_user()
    strava.control.add_fault("twice", "error", {}, attributes={"status": 500}, max_hits=2)
    assert _statuses(http, strava, u["access_token"], 4) == [500, 500, 200, 200]


@pytest.mark.parametrize("retry_after", [None, 7])
def test_429_storm(fake, http, retry_after):
    u = fake.control.create_user()
    attrs = {} if retry_after is None else {"retry_after": retry_after}
    fake.control.add_fault("storm", "rate_limit_storm", {"route": ROUTE[fake.provider]}, attributes=attrs)
    rs = [data_call(http, fake, u["access_token"]) for _ in range(3)]
    assert [r.status_code for r in rs] == [429] * 3
    r = rs[-1]
    assert (r.headers.get("Retry-After") == "7") if retry_after else ("Retry-After" not in r.headers)
    if fake.provider == "strava":
        assert r.json()["message"] == "Rate Limit Exceeded"
        lim, use = r.headers["X-RateLimit-Limit"].split(","), r.headers["X-RateLimit-Usage"].split(",")
        assert int(use[0]) >= int(lim[0])
    elif fake.provider == "fitbit":
        assert r.json()["errors"][0] == {"errorType": "system", "message": "Too Many Requests"}
        assert r.headers["Fitbit-Rate-Limit-Remaining"] == "0"
    else:
        assert "errorMessage" in r.json()


def test_latency_fixed_uniform_lognormal(strava, http):
    u = strava.control.create_user()
    strava.control.add_fault("slow", "latency", {"route": ROUTE["strava"]}, attributes={"ms": 300})
    t0 = time.time()
    data_call(http, strava, u["access_token"])
    assert time.time() - t0 >= 0.3
    strava.control.clear_faults()
    strava.control.add_fault("uni", "latency", {"route": ROUTE["strava"]},
                             attributes={"distribution": "uniform", "min_ms": 100, "max_ms": 150})
    t0 = time.time()
    data_call(http, strava, u["access_token"])
    assert time.time() - t0 >= 0.1


def test_latency_draws_are_deterministic():
    def draws(seed):
        eng = FaultEngine("strava", seed)
        f = eng.add({"name": "ln", "type": "latency", "probability": 1,
                     "attributes": {"distribution": "lognormal", "median_ms": 50, "sigma": 0.8}})
        out = []
        for _ in range(200):
            assert f.fires()
            out.append(f.delay_ms())
        return out

    a, b = draws(1), draws(1)
    assert a == b and a != draws(2)
    a.sort()
    assert 35 < a[100] < 70          # the median is near median_ms


def test_hang_past_the_client_timeout(strava, http):
    u = strava.control.create_user()
    strava.control.add_fault("hang", "hang", {"route": ROUTE["strava"]}, attributes={"seconds": 3})
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"{strava.url}{ROUTE['strava']}", headers=auth(u["access_token"]), timeout=0.5)
    strava.control.clear_faults()
    strava.control.add_fault("hang-reset", "hang", {"route": ROUTE["strava"]},
                             attributes={"seconds": 0.2, "then": "reset"})
    with pytest.raises(httpx.TransportError):
        data_call(http, strava, u["access_token"])


def test_connection_reset(fake, http):
    u = fake.control.create_user()
    fake.control.add_fault("rst", "connection_reset", {"route": ROUTE[fake.provider]})
    with pytest.raises(httpx.TransportError):
        data_call(http, fake, u["access_token"])
    fake.control.clear_faults()
    assert data_call(http, fake, u["access_token"]).status_code == 200


def test_empty_and_malformed_bodies(fake, http):
    u = fake.control.create_user()
    fake.control.add_fault("empty", "empty_body", {"route": ROUTE[fake.provider]}, max_hits=1)
    r = data_call(http, fake, u["access_token"])
    assert r.status_code == 200 and r.content == b""
    for mode in ("truncate", "garbage", "html"):
        fake.control.add_fault("bad", "malformed_body", {"route": ROUTE[fake.provider]},
                               attributes={"mode": mode}, max_hits=1)
        r = data_call(http, fake, u["access_token"])
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
    fake.control.add_fault("bad502", "malformed_body", {}, attributes={"mode": "html", "status": 502})
    assert data_call(http, fake, u["access_token"]).status_code == 502


def test_token_revocation(fake, http):
    a, b = fake.control.create_user(), fake.control.create_user()
    fake.control.add_fault("revoke-a", "token_revocation", {"user": a["user_id"]})
    r = data_call(http, fake, a["access_token"])
    assert r.status_code == (403 if fake.provider == "garmin" else 401)
    assert fake.control.user(a["user_id"])["revoked"] is True
    assert data_call(http, fake, b["access_token"]).status_code == 200
    # immediate revocation at definition time
    fake.control.add_fault("revoke-b", "token_revocation", {"user": b["user_id"]},
                           attributes={"immediate": True})
    assert data_call(http, fake, b["access_token"]).status_code in (401, 403)


def test_webhook_duplicates(strava):
    with WebhookReceiver() as rx:
        strava.control.set_config(webhook_url=rx.url)
        u = strava.control.create_user()
        strava.control.add_fault("dup", "webhook_duplicate", {"route": "webhook*"}, attributes={"copies": 2})
        res = strava.control.emit_webhook(u["user_id"], object_id=123)
        assert res["queued"] == 3
        got = rx.wait_for(3)
        assert len(got) == 3 and len({g["raw"] for g in got}) == 1
        strava.control.clear_faults()
        strava.control.add_fault("never", "webhook_duplicate", {}, probability=0)
        strava.control.emit_webhook(u["user_id"], object_id=124)
        time.sleep(0.3)
        assert len(rx.received) == 4


def test_webhook_out_of_order(fitbit):
    with WebhookReceiver() as rx:
        fitbit.control.set_config(webhook_url=rx.url)
        u = fitbit.control.create_user()
        fitbit.control.add_fault("reorder", "webhook_out_of_order", {}, attributes={"after": 2}, max_hits=1)
        for d in ("2026-01-01", "2026-01-02", "2026-01-03"):
            fitbit.control.emit_webhook(u["user_id"], wait=False, date=d)
        got = rx.wait_for(3)
        assert [g["json"][0]["date"] for g in got] == ["2026-01-02", "2026-01-03", "2026-01-01"]


@pytest.mark.parametrize("envelope,words", [
    ({"type": "error"}, "name"),
    ({"name": "x"}, "type"),
    ({"name": "x", "type": "teleport"}, "unknown fault type"),
    ({"name": "x", "type": "error", "probability": 2}, "probability"),
    ({"name": "x", "type": "error", "attributes": {"status": 200}}, "status"),
    ({"name": "x", "type": "error", "attributes": {"colour": "red"}}, "colour"),
    ({"name": "x", "type": "latency", "attributes": {"distribution": "cauchy", "ms": 1}}, "distribution"),
    ({"name": "x", "type": "latency", "attributes": {}}, "ms"),
    ({"name": "x", "type": "error", "target": {"provider": "fitbit"}}, "provider"),
    ({"name": "x", "type": "error", "target": {"planet": "mars"}}, "planet"),
    ({"name": "x", "type": "error", "extra": 1}, "extra"),
    ({"name": "x", "type": "token_revocation", "attributes": {"immediate": True}}, "target.user"),
    ("not an object", "object"),
])
def test_malformed_definitions_are_400(strava, envelope, words):
    with pytest.raises(ControlAPIError) as e:
        strava.control.add_fault_envelope(envelope)
    assert e.value.status == 400
    assert words in e.value.body["message"]
    assert strava.control.faults() == []


def test_registry_lists_types(strava):
    types = strava.control.fault_types()
    assert set(types) >= {"noop", "latency", "error", "rate_limit_storm", "hang", "connection_reset",
                          "empty_body", "malformed_body", "token_revocation", "webhook_duplicate",
                          "webhook_out_of_order"}
