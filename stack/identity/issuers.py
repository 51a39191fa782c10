"""The two local identity providers' descriptions: issuer URL, JWKS URL and audience (dual authorizer, 004 §3.5).

Firebase-like: issuer ``<base>/firebase`` (real: ``https://securetoken.google.com/<projectId>``), audience the
project id. Cognito-like: issuer ``<base>/cognito/<region>_local`` (real:
``https://cognito-idp.<region>.amazonaws.com/<userPoolId>``), audience the app client id, ``token_use`` claim.
The issuer list is written to ``issuers.json`` in the keys directory so a ``TokenMinter`` in another process
mints tokens for the running server without being told its URL.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

FIREBASE_PROJECT_ID = "syncwell-local"
COGNITO_CLIENT_ID = "syncwell-local-client"
ISSUERS_FILE = "issuers.json"


@dataclass(frozen=True)
class IssuerSpec:
    name: str        # "firebase" | "cognito"
    issuer: str
    jwks_url: str
    audience: str


def issuer_specs(base_url: str, region: str) -> list[IssuerSpec]:
    base = base_url.rstrip("/")
    firebase = f"{base}/firebase"
    cognito = f"{base}/cognito/{region}_local"
    return [
        IssuerSpec("firebase", firebase, f"{firebase}/.well-known/jwks.json", FIREBASE_PROJECT_ID),
        IssuerSpec("cognito", cognito, f"{cognito}/.well-known/jwks.json", COGNITO_CLIENT_ID),
    ]


def write_issuers_file(keys_dir: Path, specs: list[IssuerSpec]) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=keys_dir, prefix=".issuers", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump([asdict(spec) for spec in specs], handle)
    os.replace(tmp, keys_dir / ISSUERS_FILE)


def read_issuers_file(keys_dir: Path) -> list[IssuerSpec]:
    return [IssuerSpec(**item) for item in json.loads((keys_dir / ISSUERS_FILE).read_text())]
