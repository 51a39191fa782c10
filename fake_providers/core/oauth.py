"""OAuth token store shared by the three fakes: authorization codes, access tokens that expire on the fake clock,
refresh tokens that rotate (the rotated one is then refused), revocation. Raises ProviderError with neutral kinds
("invalid_grant", "invalid_token", "expired_token", "invalid_client"); the provider renders them."""
from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass, field

from .errors import ProviderError
from .util import dumps, stable_hash


@dataclass
class TokenPolicy:
    access_ttl: int                    # seconds
    refresh_ttl: int | None = None     # None: refresh tokens do not expire
    rotate: bool = True                # each refresh issues a new refresh token and kills the old one
    style: str = "hex40"               # hex40 (Strava), jwt (Fitbit), uuid (Garmin)
    code_ttl: int = 600


@dataclass
class AccessToken:
    token: str
    user_id: str
    client_id: str
    scopes: list[str]
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    user_id: str
    client_id: str
    scopes: list[str]
    expires_at: float | None
    used: bool = False
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    user_id: str
    client_id: str | None
    scopes: list[str]
    expires_at: float
    redirect_uri: str | None = None
    code_challenge: str | None = None
    challenge_method: str = "S256"
    used: bool = False


@dataclass
class TokenPair:
    access: AccessToken
    refresh: RefreshToken
    issued_at: float

    @property
    def expires_in(self) -> int:
        return int(round(self.access.expires_at - self.issued_at))


@dataclass
class TokenStore:
    policy: TokenPolicy
    seed: int = 0
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    by_user: dict[str, set[str]] = field(default_factory=dict)   # user -> access + refresh tokens issued
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def clear(self) -> None:
        self.access.clear()
        self.refresh.clear()
        self.codes.clear()
        self.by_user.clear()
        self._counter = itertools.count(1)

    # -- token strings -------------------------------------------------------------------------------------------
    def _new(self, kind: str, user_id: str) -> str:
        n = next(self._counter)
        raw = hashlib.sha256(f"{self.seed}:{kind}:{user_id}:{n}".encode()).hexdigest()
        style = self.policy.style
        if style == "jwt" and kind == "access":
            header = _b64({"alg": "HS256", "typ": "JWT"})
            body = _b64({"aud": "swsim", "sub": user_id, "iss": "Fitbit", "typ": "access_token", "n": n})
            return f"{header}.{body}.{raw[:43]}"
        if style == "uuid":
            return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
        if style == "jwt":
            return raw[:64]
        return raw[:40]

    # -- issuing -------------------------------------------------------------------------------------------------
    def issue(self, user_id: str, client_id: str, scopes: list[str], now: float) -> TokenPair:
        a = AccessToken(self._new("access", user_id), user_id, client_id, list(scopes), now + self.policy.access_ttl)
        r_exp = now + self.policy.refresh_ttl if self.policy.refresh_ttl else None
        r = RefreshToken(self._new("refresh", user_id), user_id, client_id, list(scopes), r_exp)
        self.access[a.token] = a
        self.refresh[r.token] = r
        self.by_user.setdefault(user_id, set()).update((a.token, r.token))
        return TokenPair(a, r, now)

    def new_code(self, user_id: str, scopes: list[str], now: float, client_id: str | None = None,
                 redirect_uri: str | None = None, code_challenge: str | None = None,
                 challenge_method: str = "S256") -> AuthCode:
        code = AuthCode(self._new("code", user_id)[:32], user_id, client_id, list(scopes), now + self.policy.code_ttl,
                        redirect_uri, code_challenge, challenge_method or "S256")
        self.codes[code.code] = code
        return code

    def exchange_code(self, code: str | None, client_id: str, now: float, code_verifier: str | None = None,
                      redirect_uri: str | None = None) -> TokenPair:
        rec = self.codes.get(code or "")
        if rec is None or rec.used or rec.expires_at <= now:
            raise ProviderError(400, "invalid_grant", "Authorization code invalid or expired", detail="code")
        if rec.client_id and client_id and rec.client_id != client_id:
            raise ProviderError(400, "invalid_grant", "Authorization code was issued to another client", detail="code")
        if rec.redirect_uri and redirect_uri and rec.redirect_uri != redirect_uri:
            raise ProviderError(400, "invalid_grant", "redirect_uri mismatch", detail="redirect_uri")
        if rec.code_challenge:
            if not code_verifier:
                raise ProviderError(400, "invalid_grant", "Missing code_verifier", detail="code_verifier")
            if rec.challenge_method.upper() == "PLAIN":
                ok = code_verifier == rec.code_challenge
            else:
                digest = hashlib.sha256(code_verifier.encode()).digest()
                ok = base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == rec.code_challenge
            if not ok:
                raise ProviderError(400, "invalid_grant", "Invalid code_verifier", detail="code_verifier")
        rec.used = True
        return self.issue(rec.user_id, client_id or rec.client_id or "", rec.scopes, now)

    def use_refresh(self, token: str | None, client_id: str | None, now: float) -> TokenPair:
        rec = self.refresh.get(token or "")
        if rec is None or rec.revoked or rec.used:
            raise ProviderError(400, "invalid_grant", "Refresh token invalid", detail="refresh_token")
        if rec.expires_at is not None and rec.expires_at <= now:
            raise ProviderError(400, "invalid_grant", "Refresh token expired", detail="refresh_token")
        if client_id and rec.client_id and client_id != rec.client_id:
            raise ProviderError(400, "invalid_grant", "Refresh token was issued to another client",
                                detail="refresh_token")
        if not self.policy.rotate:
            a = AccessToken(self._new("access", rec.user_id), rec.user_id, rec.client_id, list(rec.scopes),
                            now + self.policy.access_ttl)
            self.access[a.token] = a
            self.by_user.setdefault(rec.user_id, set()).add(a.token)
            return TokenPair(a, rec, now)
        rec.used = True
        return self.issue(rec.user_id, rec.client_id, rec.scopes, now)

    # -- checking ------------------------------------------------------------------------------------------------
    def peek(self, token: str | None) -> AccessToken | None:
        return self.access.get(token) if token else None

    def validate(self, token: str | None, now: float) -> AccessToken:
        rec = self.access.get(token) if token else None
        if rec is None or rec.revoked:
            raise ProviderError(401, "invalid_token", "Access token invalid")
        if rec.expires_at <= now:
            raise ProviderError(401, "expired_token", "Access token expired")
        return rec

    # -- revocation ----------------------------------------------------------------------------------------------
    def revoke_user(self, user_id: str) -> int:
        n = 0
        for t in self.by_user.get(user_id, ()):
            rec = self.access.get(t) or self.refresh.get(t)
            if rec is not None and not rec.revoked:
                rec.revoked = True
                n += 1
        return n

    def revoke_token(self, token: str) -> str | None:
        """Revoke one token (access or refresh) and, as the providers do, the user's whole grant. Returns the user."""
        rec = self.access.get(token) or self.refresh.get(token)
        if rec is None:
            return None
        self.revoke_user(rec.user_id)
        return rec.user_id

    def live_tokens(self, user_id: str, now: float) -> dict:
        acc = [self.access[t] for t in self.by_user.get(user_id, ()) if t in self.access]
        ref = [self.refresh[t] for t in self.by_user.get(user_id, ()) if t in self.refresh]
        return {
            "access_tokens": [{"token": a.token, "expires_at": a.expires_at, "revoked": a.revoked,
                               "expired": a.expires_at <= now} for a in acc],
            "refresh_tokens": [{"token": r.token, "used": r.used, "revoked": r.revoked} for r in ref],
        }


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(dumps(obj)).rstrip(b"=").decode()


def parse_basic(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        raw = base64.b64decode(header.split(None, 1)[1]).decode()
    except Exception:
        return None, None
    cid, _, secret = raw.partition(":")
    return cid, secret


def bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


__all__ = ["TokenPolicy", "TokenStore", "TokenPair", "AccessToken", "RefreshToken", "AuthCode", "parse_basic",
           "bearer", "stable_hash"]
