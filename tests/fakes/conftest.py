"""Fixtures for the fake providers: one fake per provider per module (reset before each test), a webhook
receiver, and helpers that speak each provider's OAuth dialect."""
from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from fake_providers.testing import WebhookReceiver, run_fake

PROVIDERS = ["strava", "fitbit", "garmin"]
CLIENT_ID, CLIENT_SECRET = "swsim-client", "swsim-secret"


@pytest.fixture(scope="module")
def _fakes():
    started = {}
    ctxs = []
    try:
        for p in PROVIDERS:
            cm = run_fake(p, seed=7)
            started[p] = cm.__enter__()
            ctxs.append(cm)
        yield started
    finally:
        for cm in reversed(ctxs):
            cm.__exit__(None, None, None)


@pytest.fixture(params=PROVIDERS)
def fake(request, _fakes):
    f = _fakes[request.param]
    f.control.reset()
    return f


@pytest.fixture
def strava(_fakes):
    _fakes["strava"].control.reset()
    return _fakes["strava"]


@pytest.fixture
def fitbit(_fakes):
    _fakes["fitbit"].control.reset()
    return _fakes["fitbit"]


@pytest.fixture
def garmin(_fakes):
    _fakes["garmin"].control.reset()
    return _fakes["garmin"]


@pytest.fixture
def receiver():
    with WebhookReceiver(fitbit_secret=None) as r:
        yield r


@pytest.fixture
def http():
    with httpx.Client(timeout=20) as c:
        yield c


def pkce() -> tuple[str, str]:
    verifier = "v" * 20 + base64.urlsafe_b64encode(hashlib.sha256(b"swsim").digest()).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def token_call(http: httpx.Client, fake, grant: str, value: str, verifier: str | None = None,
               redirect_uri: str | None = None) -> httpx.Response:
    """The provider's own token request (form body; Fitbit authenticates with HTTP Basic)."""
    key = "code" if grant == "authorization_code" else "refresh_token"
    if fake.provider == "strava":
        return http.post(f"{fake.url}/oauth/token", data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                         "grant_type": grant, key: value})
    if fake.provider == "fitbit":
        data = {"grant_type": grant, key: value}
        if verifier:
            data["code_verifier"] = verifier
        if redirect_uri:
            data["redirect_uri"] = redirect_uri
        return http.post(f"{fake.url}/oauth2/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET))
    data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": grant, key: value}
    if verifier:
        data["code_verifier"] = verifier
    if redirect_uri:
        data["redirect_uri"] = redirect_uri
    return http.post(f"{fake.url}/di-oauth2-service/oauth/token", data=data)


def data_call(http: httpx.Client, fake, token: str) -> httpx.Response:
    h = {"Authorization": f"Bearer {token}"}
    if fake.provider == "strava":
        return http.get(f"{fake.url}/api/v3/athlete/activities", headers=h)
    if fake.provider == "fitbit":
        return http.get(f"{fake.url}/1/user/-/activities/list.json",
                        params={"beforeDate": "2100-01-01", "sort": "desc", "limit": 10, "offset": 0}, headers=h)
    return http.get(f"{fake.url}/wellness-api/rest/user/id", headers=h)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
