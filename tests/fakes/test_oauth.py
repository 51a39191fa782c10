"""Full OAuth dance for each fake: consent redirect, code exchange, refresh with rotation (the old refresh token
is refused with the provider's own error), access tokens expiring on the fake clock."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from .conftest import CLIENT_ID, auth, data_call, pkce, token_call

AUTHORIZE = {"strava": "/oauth/authorize", "fitbit": "/oauth2/authorize", "garmin": "/oauth2Confirm"}
TTL = {"strava": 21600, "fitbit": 28800, "garmin": 86400}


def assert_bad_refresh(fake, r):
    assert r.status_code == 400, r.text
    body = r.json()
    if fake.provider == "strava":
        assert body == {"message": "Bad Request",
                        "errors": [{"resource": "RefreshToken", "field": "refresh_token", "code": "invalid"}]}
    elif fake.provider == "fitbit":
        assert body["success"] is False and body["errors"][0]["errorType"] == "invalid_grant"
    else:
        assert body["error"] == "invalid_grant"


def assert_expired(fake, r):
    assert r.status_code == 401, r.text
    body = r.json()
    if fake.provider == "strava":
        assert body == {"message": "Authorization Error",
                        "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}]}
    elif fake.provider == "fitbit":
        assert body["errors"][0]["errorType"] == "expired_token"
    else:
        assert "errorMessage" in body


def test_full_dance_with_rotation_and_expiry(fake, http):
    verifier, challenge = pkce()
    redirect = "http://127.0.0.1:1/callback"
    params = {"client_id": CLIENT_ID, "redirect_uri": redirect, "response_type": "code", "state": "xyz",
              "scope": "activity:read_all,activity:write" if fake.provider == "strava" else "activity sleep"}
    if fake.provider != "strava":
        params.update(code_challenge=challenge, code_challenge_method="S256")
    r = http.get(fake.url + AUTHORIZE[fake.provider], params=params, follow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlparse(r.headers["Location"]).query)
    assert q["state"] == ["xyz"]
    code = q["code"][0]

    r = token_call(http, fake, "authorization_code", code, verifier if fake.provider != "strava" else None,
                   redirect if fake.provider != "strava" else None)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"].lower() == "bearer"
    assert tok["expires_in"] == TTL[fake.provider]
    if fake.provider == "strava":
        assert "athlete" in tok and tok["expires_at"] > 0
    if fake.provider == "fitbit":
        assert tok["user_id"] and "activity" in tok["scope"]
    if fake.provider == "garmin":
        assert 89 * 86400 < tok["refresh_token_expires_in"] <= 90 * 86400

    # the code is single-use
    r2 = token_call(http, fake, "authorization_code", code, verifier, redirect)
    assert r2.status_code in (400, 401)

    assert data_call(http, fake, tok["access_token"]).status_code == 200

    # refresh rotates: new pair, the old refresh token is refused with the provider's own error
    r = token_call(http, fake, "refresh_token", tok["refresh_token"])
    assert r.status_code == 200, r.text
    tok2 = r.json()
    assert tok2["refresh_token"] != tok["refresh_token"]
    assert tok2["access_token"] != tok["access_token"]
    assert_bad_refresh(fake, token_call(http, fake, "refresh_token", tok["refresh_token"]))

    # expiry on the fake clock: no sleeping
    fake.control.advance(TTL[fake.provider] + 1)
    assert_expired(fake, data_call(http, fake, tok2["access_token"]))
    r = token_call(http, fake, "refresh_token", tok2["refresh_token"])
    assert r.status_code == 200
    assert data_call(http, fake, r.json()["access_token"]).status_code == 200


def test_pkce_verifier_is_checked(http, fitbit, garmin):
    for fake in (fitbit, garmin):
        _, challenge = pkce()
        code = fake.control.auth_code(scopes=None, code_challenge=challenge, client_id=CLIENT_ID)["code"]
        r = token_call(http, fake, "authorization_code", code, verifier="wrong-verifier-" + "x" * 40)
        assert r.status_code == 400


def test_control_users_have_live_tokens(fake, http):
    u = fake.control.create_user(history_days=10)
    assert set(u) >= {"user_id", "access_token", "refresh_token", "expires_at", "scope"}
    assert isinstance(u["user_id"], str)
    assert abs(u["expires_at"] - (fake.control.now() + TTL[fake.provider])) < 5
    assert data_call(http, fake, u["access_token"]).status_code == 200
    info = fake.control.user(u["user_id"])
    assert info["user_id"] == u["user_id"]


def test_revoked_user_is_refused(fake, http):
    u = fake.control.create_user()
    fake.control.revoke(u["user_id"])
    r = data_call(http, fake, u["access_token"])
    assert r.status_code == (403 if fake.provider == "garmin" else 401)
    assert token_call(http, fake, "refresh_token", u["refresh_token"]).status_code == 400


def test_configured_client_credentials_are_enforced(fake, http):
    fake.control.set_config(client_id="other", client_secret="other-secret")
    u = fake.control.create_user()
    r = token_call(http, fake, "refresh_token", u["refresh_token"])
    assert r.status_code == 401


def test_scope_missing(strava, fitbit, http):
    u = strava.control.create_user(scopes=["read"])
    r = http.get(f"{strava.url}/api/v3/athlete/activities", headers=auth(u["access_token"]))
    assert r.status_code == 401
    assert r.json()["errors"] == [{"resource": "AccessToken", "field": "activity:read_permission", "code": "missing"}]
    u = fitbit.control.create_user(scopes=["activity"])
    r = http.get(f"{fitbit.url}/1.2/user/-/sleep/date/today.json", headers=auth(u["access_token"]))
    assert r.status_code == 403
    assert r.json()["errors"][0]["errorType"] == "insufficient_scope"
