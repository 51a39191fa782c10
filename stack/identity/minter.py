"""Mint ID tokens of the two local issuers, in-process (tests, load scenarios) or behind ``POST /_mint``.

Besides valid tokens, the minter forges the invalid ones an authorizer must refuse, so security tests read as
one line each: ``bad_signature`` (signed by the rogue key under a trusted kid), ``alg_none`` (unsigned),
``unknown_kid`` (validly signed by a key in no JWKS), ``expired``, ``not_yet_valid`` (nbf in the future), and any
claim override (``iss=...``, ``aud=...``; ``None`` removes a claim).
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

import jwt

from stack.identity.issuers import IssuerSpec, issuer_specs, read_issuers_file
from stack.identity.keys import SigningKey, load_keyring


def _b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


class TokenMinter:
    """``TokenMinter(keys_dir)`` reads the issuers of the identity server that uses ``keys_dir``;
    ``TokenMinter(keys_dir, base_url=..., region=...)`` describes them itself (no server needed to mint)."""

    def __init__(self, keys_dir: str | Path, base_url: str | None = None, region: str = "us-east-1") -> None:
        self.keys_dir = Path(keys_dir)
        self.keys: dict[str, SigningKey] = load_keyring(self.keys_dir)
        specs = issuer_specs(base_url, region) if base_url else read_issuers_file(self.keys_dir)
        self.issuers: dict[str, IssuerSpec] = {spec.name: spec for spec in specs}

    def issuer(self, name: str) -> IssuerSpec:
        try:
            return self.issuers[name]
        except KeyError as exc:
            raise ValueError(f"unknown issuer {name!r}; known: {sorted(self.issuers)}") from exc

    def claims(self, issuer_name: str, sub: str, ttl_s: int = 3600, now: float | None = None) -> dict[str, Any]:
        """The claims a real provider puts in an ID token for ``sub``."""
        spec = self.issuer(issuer_name)
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {"iss": spec.issuer, "aud": spec.audience, "sub": sub, "iat": issued,
                                  "exp": issued + ttl_s, "auth_time": issued, "jti": uuid.uuid4().hex}
        if issuer_name == "firebase":
            claims.update(user_id=sub, firebase={"identities": {}, "sign_in_provider": "password"})
        else:
            claims.update({"token_use": "id", "cognito:username": sub})
        return claims

    def mint(self, issuer_name: str, sub: str, ttl_s: int = 3600, *, expired: bool = False,
             not_yet_valid: bool = False, bad_signature: bool = False, alg_none: bool = False,
             unknown_kid: bool = False, kid: str | None = None, claims: Mapping[str, Any] | None = None,
             **claim_overrides: Any) -> str:
        """A signed RS256 token of ``issuer_name`` for user ``sub``; the keyword flags forge invalid ones.
        ``claims`` (or keyword overrides) replace claims; a value of None removes the claim."""
        payload = self.claims(issuer_name, sub, ttl_s)
        if expired:
            payload["iat"], payload["exp"] = payload["iat"] - 2 * 3600, payload["iat"] - 3600
        if not_yet_valid:
            payload["nbf"] = payload["iat"] + 3600
        for name, value in {**(claims or {}), **claim_overrides}.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        key = self.keys[issuer_name]
        header_kid = kid or key.kid
        if alg_none:
            return f"{_b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': header_kid})}.{_b64url_json(payload)}."
        signer = key
        if bad_signature or unknown_kid:
            signer = self.keys["rogue"]
            header_kid = key.kid if bad_signature else (kid or self.keys["rogue"].kid)
        return jwt.encode(payload, signer.private_key, algorithm="RS256", headers={"kid": header_kid})
