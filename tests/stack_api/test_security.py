"""The authorizer's refusals, IDOR, and request validation (never a 500 for a client mistake)."""
from __future__ import annotations

import uuid

import pytest

from .conftest import auth, idem
from .test_step1 import sync_body


@pytest.mark.parametrize("forge", [
    {"bad_signature": True},
    {"alg_none": True},
    {"expired": True},
    {"not_yet_valid": True},
    {"unknown_kid": True},
    {"iss": "http://127.0.0.1:1/evil"},
    {"aud": "some-other-project"},
    {"claims": {"sub": None}},
    {"claims": {"exp": None}},
    {"claims": {"sub": "USER#admin"}},
], ids=lambda forge: "-".join(f"{k}={v}" for k, v in forge.items()))
@pytest.mark.parametrize("issuer", ["firebase", "cognito"])
def test_invalid_tokens_are_401(client, minter, user, issuer, forge) -> None:
    user_id, _ = user
    token = minter.mint(issuer, user_id, **forge)
    response = client.get("/v1/connections", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, (forge, response.text)
    assert response.json()["error"]["code"] == "unauthorized"


def test_cognito_token_use_is_checked(client, minter, user) -> None:
    user_id, _ = user
    token = minter.mint("cognito", user_id, token_use="refresh")
    assert client.get("/v1/connections", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_of_one_issuer_signed_by_the_other_is_401(client, minter, user) -> None:
    user_id, _ = user
    cognito_kid = minter.keys["cognito"].kid
    # Firebase claims, signed with Firebase's key but naming Cognito's kid: the Firebase JWKS has no such key.
    token = minter.mint("firebase", user_id, kid=cognito_kid)
    assert client.get("/v1/connections", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"])
def test_missing_or_malformed_authorization_is_401(client, header) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert client.get("/v1/connections", headers=headers).status_code == 401


def test_missing_idempotency_key_is_400(client, minter, user) -> None:
    user_id, connections = user
    for method, path, body in [("POST", "/v1/sync-jobs", sync_body(connections)),
                               ("PUT", "/v1/users/me/settings", {"settings": {"a": 1}}),
                               ("POST", "/v1/device-upload", {"data": [{"id": 1}]}),
                               ("DELETE", f"/v1/connections/{connections['strava']}", None),
                               ("DELETE", "/v1/users/me", None),
                               ("POST", "/v1/export-jobs", None)]:
        response = client.request(method, path, headers=auth(minter, user_id), json=body)
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["error"]["code"] == "missing_idempotency_key"


@pytest.mark.parametrize("field,value", [("dataType", "heartbeat"), ("mode", "turbo"), ("priority", "urgent"),
                                         ("dataType", 7), ("sourceConnectionId", None)])
def test_invalid_enum_is_400_naming_the_field(client, minter, user, field, value) -> None:
    user_id, connections = user
    response = client.post("/v1/sync-jobs", headers={**auth(minter, user_id), **idem()},
                           json=sync_body(connections, **{field: value}))
    assert response.status_code == 400
    assert field in response.json()["error"]["message"]


def test_date_range_required_iff_historical(client, minter, user) -> None:
    user_id, connections = user
    headers = auth(minter, user_id)
    missing = client.post("/v1/sync-jobs", headers={**headers, **idem()}, json=sync_body(connections, mode="historical"))
    assert missing.status_code == 400 and "dateRange" in missing.json()["error"]["message"]
    extra = client.post("/v1/sync-jobs", headers={**headers, **idem()},
                        json=sync_body(connections, dateRange={"startDate": "2023-01-01", "endDate": "2023-01-02"}))
    assert extra.status_code == 400 and "dateRange" in extra.json()["error"]["message"]
    backwards = client.post("/v1/sync-jobs", headers={**headers, **idem()}, json=sync_body(
        connections, mode="historical", dateRange={"startDate": "2023-02-01", "endDate": "2023-01-01"}))
    assert backwards.status_code == 400


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"", b"{\"a\":"])
def test_bad_bodies_are_400(client, minter, user, content) -> None:
    user_id, _ = user
    response = client.post("/v1/sync-jobs", content=content,
                           headers={**auth(minter, user_id), **idem(), "Content-Type": "application/json"})
    assert response.status_code == 400


def test_unknown_route_and_method_are_json_4xx(client, minter, user) -> None:
    user_id, _ = user
    missing = client.get("/v1/nothing-here", headers=auth(minter, user_id))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.patch("/v1/connections", headers=auth(minter, user_id))
    assert wrong.status_code == 405


def test_user_cannot_delete_someone_elses_connection(client, minter, user, backend) -> None:
    user_id, _ = user
    victim = f"u{uuid.uuid4().hex[:12]}"
    their = backend.add_user(victim)
    response = client.delete(f"/v1/connections/{their['strava']}", headers={**auth(minter, user_id), **idem()})
    assert response.status_code == 404
    assert backend.get(f"USER#{victim}", f"CONN#{their['strava']}") is not None
