"""The dual JWT authorizer (004 §3.5): RS256 tokens from either configured issuer, each verified against its
own JWKS. The user id is the token's ``sub`` and nothing else [IDOR, 001 §6.2].

JWKS documents are fetched at startup and cached (001's L2 cache, ``jwks##{providerUrl}``: 1 hour); an unknown
``kid`` triggers a refresh (key rotation), at most once per ``refresh_interval_s`` per issuer and shared by
concurrent requests, so a flood of forged kids cannot turn into a flood of JWKS fetches; a JWKS older than
``jwks_max_age_s`` is refreshed in the background while the cached keys keep serving (so a key the issuer
withdrew stops verifying within the hour). Verified tokens are cached (001's L1 cache: the authorizer's
decision for a token, 5 minutes, never beyond the token's expiry; bounded LRU): the same token string needs no
second RSA verification within that time.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from stack.api.errors import unauthorized
from stack.api.logs import RateLimitedLogger
from stack.config import IssuerConfig

log = logging.getLogger("syncwell.api.authorizer")
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@|+-]{1,128}$")
ALLOWED_ALGORITHMS = ["RS256"]
COGNITO_TOKEN_USES = ("id", "access")
JWKS_MAX_AGE_S = 3600.0           # 001: JWT public keys cached 1 hour
DECISION_CACHE_S = 300.0          # 001: the authorizer's decision for a token cached 5 minutes


@dataclass(frozen=True)
class Principal:
    user_id: str
    issuer: str        # the issuer's name: "firebase" | "cognito"


class IssuerKeys:
    """One issuer's JWKS, cached, refreshed on an unknown kid at most once per interval."""

    def __init__(self, issuer: IssuerConfig, http: httpx.AsyncClient, refresh_interval_s: float,
                 max_age_s: float = JWKS_MAX_AGE_S) -> None:
        self.issuer = issuer
        self.http = http
        self.refresh_interval_s = refresh_interval_s
        self.max_age_s = max_age_s
        self.keys: dict[str, Any] = {}
        self._last_fetch = -1e9
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._warn = RateLimitedLogger(log, 10.0)

    async def key_for(self, kid: str) -> Any | None:
        if kid in self.keys:
            if time.monotonic() - self._last_fetch >= self.max_age_s and self._background is None:
                self._background = asyncio.create_task(self._refresh_in_background())
            return self.keys[kid]
        async with self._lock:
            if kid not in self.keys and time.monotonic() - self._last_fetch >= self.refresh_interval_s:
                await self.refresh()
        return self.keys.get(kid)

    async def _refresh_in_background(self) -> None:
        try:
            async with self._lock:
                await self.refresh()
        finally:
            self._background = None

    async def refresh(self) -> None:
        self._last_fetch = time.monotonic()
        try:
            response = await self.http.get(self.issuer.jwks_url)
            response.raise_for_status()
            keys = {}
            for jwk in response.json().get("keys", []):
                if jwk.get("kty") == "RSA" and jwk.get("kid"):
                    keys[jwk["kid"]] = PyJWK.from_dict(jwk, algorithm="RS256").key
            self.keys = keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKError) as exc:
            # Keep the keys we had: an identity-provider outage must not log everybody out.
            self._warn.warning(self.issuer.name, "jwks fetch failed", issuer=self.issuer.name, error=type(exc).__name__)


class TokenCache:
    """Verified tokens -> (principal, exp), bounded LRU."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str, now: float) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, exp = entry
        if exp <= now:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, exp: float) -> None:
        self._entries[token] = (principal, exp)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class Authorizer:
    def __init__(self, issuers: tuple[IssuerConfig, ...], *, leeway_s: float = 30.0,
                 refresh_interval_s: float = 30.0, cache_size: int = 50_000, jwks_max_age_s: float = JWKS_MAX_AGE_S,
                 decision_cache_s: float = DECISION_CACHE_S) -> None:
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(2.0))
        self.by_issuer = {issuer.issuer: IssuerKeys(issuer, self.http, refresh_interval_s, jwks_max_age_s)
                          for issuer in issuers}
        self.leeway_s = leeway_s
        self.decision_cache_s = decision_cache_s
        self.cache = TokenCache(cache_size)

    async def start(self) -> None:
        await asyncio.gather(*(keys.refresh() for keys in self.by_issuer.values()))

    async def close(self) -> None:
        await self.http.aclose()

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of a ``Bearer <jwt>`` header, or ApiError 401 (never says which check failed in
        detail beyond a short reason, and never echoes the token)."""
        if not authorization or not authorization.startswith(("Bearer ", "bearer ")):
            raise unauthorized("missing bearer token")
        token = authorization[7:].strip()
        now = time.time()
        cached = self.cache.get(token, now)
        if cached is not None:
            # exp is enforced by the cache; nbf was enforced at first verification.
            return cached
        principal, exp = await self._verify(token)
        self.cache.put(token, principal, min(exp + self.leeway_s, now + self.decision_cache_s))
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise unauthorized("malformed token") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise unauthorized("unsupported token algorithm")
        issuer_keys = self.by_issuer.get(str(unverified.get("iss", "")))
        if issuer_keys is None:
            raise unauthorized("untrusted issuer")
        key = await issuer_keys.key_for(str(header.get("kid", "")))
        if key is None:
            raise unauthorized("unknown signing key")
        issuer = issuer_keys.issuer
        is_cognito_access = issuer.name == "cognito" and unverified.get("token_use") == "access"
        try:
            claims = jwt.decode(
                token, key, algorithms=ALLOWED_ALGORITHMS, issuer=issuer.issuer,
                audience=None if is_cognito_access else issuer.audience, leeway=self.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": not is_cognito_access})
        except jwt.PyJWTError as exc:
            raise unauthorized(_reason(exc)) from exc
        if issuer.name == "cognito":
            if claims.get("token_use") not in COGNITO_TOKEN_USES:
                raise unauthorized("bad token_use")
            if is_cognito_access and claims.get("client_id") != issuer.audience:
                raise unauthorized("bad client_id")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not USER_ID_PATTERN.match(sub):
            raise unauthorized("bad subject")
        return Principal(user_id=sub, issuer=issuer.name), float(claims["exp"])


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    return "invalid token"
