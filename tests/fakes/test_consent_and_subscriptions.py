"""The pieces the fakes share through fake_providers/core: the consent redirect (an existing query string kept,
Fitbit's ``#_=_`` fragment, the named user approving) and Fitbit's per-collection / all-collections routes."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from .conftest import CLIENT_ID, auth, pkce

AUTHORIZE = {"strava": "/oauth/authorize", "fitbit": "/oauth2/authorize", "garmin": "/oauth2Confirm"}
USER_PARAM = {"strava": "athlete_id", "fitbit": "user_id", "garmin": "user_id"}


def test_consent_redirect_keeps_the_client_query_and_the_named_user(fake, http):
    user = fake.control.create_user(history_days=1)
    _, challenge = pkce()
    params = {"client_id": CLIENT_ID, "redirect_uri": "http://127.0.0.1:1/cb?app=swsim", "state": "s-1",
              USER_PARAM[fake.provider]: user["user_id"], "code_challenge": challenge}
    r = http.get(fake.url + AUTHORIZE[fake.provider], params=params, follow_redirects=False)
    assert r.status_code == 302, r.text
    location = urlparse(r.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/cb" and query["app"] == ["swsim"] and query["state"] == ["s-1"] and query["code"]
    assert location.fragment == ("_=_" if fake.provider == "fitbit" else "")
    assert len(fake.control.users()) == 1     # the named user approved; no new user was made


def test_fitbit_subscriptions_per_collection_and_for_all(fitbit, http):
    user = fitbit.control.create_user(history_days=1)
    headers = {**auth(user["access_token"]), "Content-Length": "0"}
    base = f"{fitbit.url}/1/user/-"
    assert http.post(f"{base}/apiSubscriptions/all-1.json", headers=headers).status_code == 201
    assert http.post(f"{base}/sleep/apiSubscriptions/sleep-1.json", headers=headers).status_code == 201
    assert http.post(f"{base}/apiSubscriptions/all-1.json", headers=headers).status_code == 200   # same id: kept
    listed = http.get(f"{base}/apiSubscriptions.json", headers=headers).json()["apiSubscriptions"]
    assert sorted(s["subscriptionId"] for s in listed) == ["all-1", "sleep-1"]
    only_sleep = http.get(f"{base}/sleep/apiSubscriptions.json", headers=headers).json()["apiSubscriptions"]
    assert [s["subscriptionId"] for s in only_sleep] == ["sleep-1"]
    assert http.delete(f"{base}/sleep/apiSubscriptions/all-1.json", headers=headers).status_code == 404
    assert http.delete(f"{base}/apiSubscriptions/all-1.json", headers=headers).status_code == 204
    assert http.delete(f"{base}/sleep/apiSubscriptions/sleep-1.json", headers=headers).status_code == 204
    assert http.get(f"{base}/apiSubscriptions.json", headers=headers).json()["apiSubscriptions"] == []


def test_fitbit_revoke_authenticates_the_client_then_revokes_the_user(fitbit, http):
    user = fitbit.control.create_user(history_days=1)
    anonymous = http.post(f"{fitbit.url}/oauth2/revoke", data={"token": user["access_token"]})
    assert anonymous.status_code == 401 and fitbit.control.user(user["user_id"])["revoked"] is False
    r = http.post(f"{fitbit.url}/oauth2/revoke", data={"token": user["access_token"]}, auth=(CLIENT_ID, "any"))
    assert r.status_code == 200 and r.json() == {}
    assert fitbit.control.user(user["user_id"])["revoked"] is True
