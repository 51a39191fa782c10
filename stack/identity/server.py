"""The local identity server: JWKS and discovery documents of both issuers, and ``POST /_mint``.

Routes (issuer paths are the issuers' own URLs, so ``<iss>/.well-known/jwks.json`` works for both):
- ``GET /firebase/.well-known/jwks.json``, ``GET /cognito/<region>_local/.well-known/jwks.json``
- Firebase-style key endpoints: ``GET /service_accounts/v1/jwk/securetoken@system.gserviceaccount.com`` (JWKS)
  and ``GET /robot/v1/metadata/x509/securetoken@system.gserviceaccount.com`` ({kid: PEM certificate})
- ``GET <issuer>/.well-known/openid-configuration``
- ``POST /_mint {"issuer", "sub", "ttl_s"?, "claims"?, "expired"?, "not_yet_valid"?, "bad_signature"?,
  "alg_none"?, "unknown_kid"?}`` -> ``{"token"}`` (local only: the server binds 127.0.0.1)
- ``GET /health``
"""
from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stack.identity.issuers import IssuerSpec
from stack.identity.keys import jwks_document
from stack.identity.minter import TokenMinter

FIREBASE_SERVICE_ACCOUNT = "securetoken@system.gserviceaccount.com"
KEYS_CACHE_CONTROL = "public, max-age=3600"
MINT_FLAGS = ("expired", "not_yet_valid", "bad_signature", "alg_none", "unknown_kid")


def _path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _discovery(spec: IssuerSpec) -> dict[str, Any]:
    return {"issuer": spec.issuer, "jwks_uri": spec.jwks_url, "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"], "response_types_supported": ["id_token"]}


def build_identity_app(minter: TokenMinter) -> Starlette:
    def jwks_route(spec: IssuerSpec) -> Route:
        body = jwks_document(minter.keys[spec.name])

        async def jwks(_: Request) -> Response:
            return JSONResponse(body, headers={"Cache-Control": KEYS_CACHE_CONTROL})
        return Route(_path_of(spec.jwks_url), jwks, methods=["GET"])

    def discovery_route(spec: IssuerSpec) -> Route:
        body = _discovery(spec)

        async def discovery(_: Request) -> Response:
            return JSONResponse(body)
        return Route(_path_of(spec.issuer) + "/.well-known/openid-configuration", discovery, methods=["GET"])

    firebase_key = minter.keys["firebase"]
    firebase_certs = {firebase_key.kid: firebase_key.x509_pem()}

    async def firebase_jwk(_: Request) -> Response:
        return JSONResponse(jwks_document(firebase_key), headers={"Cache-Control": KEYS_CACHE_CONTROL})

    async def firebase_x509(_: Request) -> Response:
        return JSONResponse(firebase_certs, headers={"Cache-Control": KEYS_CACHE_CONTROL})

    async def mint(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            issuer, sub = body["issuer"], body["sub"]
            if not isinstance(sub, str) or not sub:
                raise ValueError("sub must be a non-empty string")
            flags = {flag: bool(body.get(flag, False)) for flag in MINT_FLAGS}
            token = minter.mint(issuer, sub, int(body.get("ttl_s", 3600)), claims=dict(body.get("claims") or {}), **flags)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad mint request: {exc}"}, status_code=400)
        return JSONResponse({"token": token})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [jwks_route(spec) for spec in minter.issuers.values()]
    routes += [discovery_route(spec) for spec in minter.issuers.values()]
    routes += [
        Route(f"/service_accounts/v1/jwk/{FIREBASE_SERVICE_ACCOUNT}", firebase_jwk, methods=["GET"]),
        Route(f"/robot/v1/metadata/x509/{FIREBASE_SERVICE_ACCOUNT}", firebase_x509, methods=["GET"]),
        Route("/_mint", mint, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)
