"""RSA signing keys of the local issuers, persisted in a keys directory so every process (the identity server,
tests, load generators) signs and verifies with the same keys.

One key per issuer (``firebase``, ``cognito``) plus a ``rogue`` key that is in no JWKS: tests use it to forge
bad signatures and unknown key ids. The kid is the RFC 7638 JWK thumbprint, so it is stable across restarts.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_NAMES = ("firebase", "cognito", "rogue")


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    name: str
    private_key: rsa.RSAPrivateKey
    kid: str

    @property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}

    def x509_pem(self) -> str:
        """A self-signed certificate for the Firebase-style ``x509`` key endpoint."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.private_key.public_key()).serial_number(int(self.kid[:15], 16))
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
                .sign(self.private_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()


def _thumbprint_kid(private_key: rsa.RSAPrivateKey) -> str:
    numbers = private_key.public_key().public_numbers()
    canonical = json.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def load_or_create_key(keys_dir: Path, name: str) -> SigningKey:
    """Load ``<name>.key.pem`` from ``keys_dir``, generating it first if absent.

    Creation is race-free across processes: the key is written to a temporary file and hard-linked into place,
    so when two processes race, one link fails and that process loads the winner's key.
    """
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / f"{name}.key.pem"
    if not path.exists():
        candidate = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = SigningKey(name, candidate, "").private_pem
        fd, tmp = tempfile.mkstemp(dir=keys_dir, prefix=f".{name}", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return SigningKey(name, private_key, _thumbprint_kid(private_key))


def load_keyring(keys_dir: Path) -> dict[str, SigningKey]:
    return {name: load_or_create_key(keys_dir, name) for name in KEY_NAMES}


def jwks_document(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}
