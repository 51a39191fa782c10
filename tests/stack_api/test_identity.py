"""The local identity server: JWKS per issuer, Firebase-style key endpoints, discovery, minting over HTTP."""
from __future__ import annotations

import httpx
import jwt
import pytest

from stack.identity import TokenMinter


def test_each_issuer_serves_its_own_jwks(backend) -> None:
    issuers = {i["name"]: i for i in backend.identity.ready["issuers"]}
    assert set(issuers) == {"firebase", "cognito"}
    assert issuers["cognito"]["issuer"].endswith("/cognito/us-east-1_local")
    kids = {}
    for name, issuer in issuers.items():
        keys = httpx.get(issuer["jwks_url"], timeout=5).json()["keys"]
        assert len(keys) == 1 and keys[0]["alg"] == "RS256" and keys[0]["kty"] == "RSA"
        kids[name] = keys[0]["kid"]
        discovery = httpx.get(f"{issuer['issuer']}/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == issuer["issuer"] and discovery["jwks_uri"] == issuer["jwks_url"]
    assert kids["firebase"] != kids["cognito"]
    base = backend.identity.url
    firebase_jwk = httpx.get(f"{base}/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com").json()
    assert [k["kid"] for k in firebase_jwk["keys"]] == [kids["firebase"]]
    certs = httpx.get(f"{base}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com").json()
    assert list(certs) == [kids["firebase"]] and "BEGIN CERTIFICATE" in certs[kids["firebase"]]


@pytest.mark.parametrize("issuer", ["firebase", "cognito"])
def test_minted_tokens_verify_against_the_served_keys(backend, issuer) -> None:
    spec = {i["name"]: i for i in backend.identity.ready["issuers"]}[issuer]
    token = httpx.post(f"{backend.identity.url}/_mint", json={"issuer": issuer, "sub": "carol", "ttl_s": 60},
                       timeout=5).json()["token"]
    key = jwt.PyJWKClient(spec["jwks_url"]).get_signing_key_from_jwt(token).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=spec["audience"], issuer=spec["issuer"])
    assert claims["sub"] == "carol" and claims["exp"] - claims["iat"] == 60
    if issuer == "cognito":
        assert claims["token_use"] == "id"


def test_mint_endpoint_forges_on_request_and_the_api_refuses(backend, client) -> None:
    forged = httpx.post(f"{backend.identity.url}/_mint", json={"issuer": "firebase", "sub": "dave", "alg_none": True},
                        timeout=5).json()["token"]
    assert jwt.get_unverified_header(forged)["alg"] == "none"
    assert client.get("/v1/connections", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    bad = httpx.post(f"{backend.identity.url}/_mint", json={"issuer": "okta", "sub": "x"}, timeout=5)
    assert bad.status_code == 400


def test_minter_without_a_server_and_keys_persist(tmp_path) -> None:
    first = TokenMinter(tmp_path, base_url="http://127.0.0.1:9999")
    second = TokenMinter(tmp_path, base_url="http://127.0.0.1:9999")
    assert first.keys["firebase"].kid == second.keys["firebase"].kid      # same keys dir, same keys
    token = first.mint("cognito", "erin", claims={"email": "erin@example.com"})
    assert jwt.decode(token, options={"verify_signature": False})["email"] == "erin@example.com"
