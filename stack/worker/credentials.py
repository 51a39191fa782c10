"""Just-in-time credential cache (001 "JIT Credential Caching"): an in-memory LRU of 1,000 entries with a 5-minute
TTL in front of Secrets Manager, plus OAuth refresh with rotation.

- Cache hit: no Secrets Manager call. Miss: GetSecretValue, then cached.
- Secrets Manager unreachable: an entry past its TTL is still served (stale-if-error), so cached credentials keep
  working through an outage; a job whose credentials were never cached fails transiently (``CredentialsUnavailable``).
- Refresh when the access token expires within ``refresh_margin_s`` (or after a 401): one refresh at a time per
  secret in this process; the rotated tokens go to the cache at once and back to Secrets Manager
  (PutSecretValue). If that store fails they stay in the cache marked dirty and the store is retried on next use,
  because the old refresh token is already refused by the provider.
- ``invalid_grant`` on refresh: another worker may have rotated the token first, so the secret is re-read; only if
  it still holds the refresh token we used is the grant really revoked.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from stack.providers import HttpProvider, TokenRevoked
from stack.schema import ProviderAppSecret, ProviderTokens, provider_app_secret_name

log = logging.getLogger("syncwell.worker.credentials")
BATCH_GET_MAX = 20   # BatchGetSecretValue's SecretIdList limit


class CredentialsUnavailable(Exception):
    """Secrets Manager could not serve credentials we do not have cached: transient."""


class SecretNotFound(Exception):
    """The secret does not exist: permanent for this job."""


@dataclass
class _Entry:
    value: Any
    fetched_at: float
    dirty: bool = False


class LruTtlCache:
    def __init__(self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: str, allow_stale: bool = False) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if not allow_stale and self._clock() - entry.fetched_at > self._ttl and not entry.dirty:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, value: Any, dirty: bool = False) -> None:
        with self._lock:
            self._entries[key] = _Entry(value, self._clock(), dirty)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def put_if_missing(self, key: str, value: Any) -> None:
        """Put unless a usable entry arrived meanwhile (e.g. tokens a refresh just rotated: never overwrite them)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.dirty or self._clock() - entry.fetched_at <= self._ttl):
                return
            self._entries[key] = _Entry(value, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class CredentialStore:
    def __init__(self, secrets_client: Any, providers: Mapping[str, HttpProvider], *, max_entries: int = 1000,
                 ttl_s: float = 300.0, refresh_margin_s: int = 60,
                 on_refresh: Callable[[str], None] | None = None) -> None:
        self._sm = secrets_client
        self._providers = providers
        self._cache = LruTtlCache(max_entries, ttl_s)
        self._margin = refresh_margin_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._on_refresh = on_refresh
        self.secrets_calls = 0

    # --- reads ---------------------------------------------------------------------------------------------
    def app_secret(self, provider: str) -> ProviderAppSecret:
        return self._read(provider_app_secret_name(provider))

    def tokens(self, secret_name: str) -> ProviderTokens:
        return self._read(secret_name)

    def _read(self, name: str, bypass_cache: bool = False) -> Any:
        if not bypass_cache:
            entry = self._cache.get(name)
            if entry is not None:
                if entry.dirty:
                    self._store_back(name, entry.value)
                return entry.value
        try:
            self.secrets_calls += 1
            value = json.loads(self._sm.get_secret_value(SecretId=name)["SecretString"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise SecretNotFound(name) from exc
            return self._stale_or_raise(name, exc)
        except BotoCoreError as exc:
            return self._stale_or_raise(name, exc)
        self._cache.put(name, value)
        return value

    def _stale_or_raise(self, name: str, exc: Exception) -> Any:
        stale = self._cache.get(name, allow_stale=True)
        if stale is not None:
            log.warning("secrets manager unavailable: serving cached credentials past their TTL",
                        extra={"reason": type(exc).__name__})
            return stale.value
        raise CredentialsUnavailable(f"secrets manager unavailable and nothing cached: {type(exc).__name__}") from exc

    def prefetch(self, names: Iterable[str]) -> None:
        """Warm the cache for a batch: ONE BatchGetSecretValue per 20 uncached secrets instead of one
        GetSecretValue each. Best effort: a secret it could not fetch (missing, Secrets Manager down) is left to
        ``_read``, which decides between stale-if-error, ``SecretNotFound`` and ``CredentialsUnavailable``."""
        missing = [n for n in dict.fromkeys(names) if self._cache.get(n) is None]
        for start in range(0, len(missing), BATCH_GET_MAX):
            chunk = missing[start:start + BATCH_GET_MAX]
            try:
                self.secrets_calls += 1
                response = self._sm.batch_get_secret_value(SecretIdList=chunk)
            except (ClientError, BotoCoreError) as exc:
                log.warning("BatchGetSecretValue failed; secrets are read one by one",
                            extra={"reason": type(exc).__name__})
                return
            for secret in response.get("SecretValues") or []:
                try:
                    self._cache.put_if_missing(str(secret["Name"]), json.loads(secret["SecretString"]))
                except (KeyError, TypeError, ValueError):
                    continue  # an odd entry: _read fetches it again and reports it properly

    # --- access tokens -------------------------------------------------------------------------------------
    def access_token(self, provider: str, secret_name: str, force_refresh: bool = False) -> str:
        tokens = self.tokens(secret_name)
        if not force_refresh and tokens["expiresAt"] > time.time() + self._margin:
            return tokens["accessToken"]
        with self._lock_for(secret_name):
            current = self.tokens(secret_name)
            if current["accessToken"] != tokens["accessToken"] and current["expiresAt"] > time.time() + self._margin:
                return current["accessToken"]  # another thread refreshed while we waited
            return self._refresh(provider, secret_name, current)["accessToken"]

    def _refresh(self, provider: str, secret_name: str, tokens: ProviderTokens) -> ProviderTokens:
        client = self._providers[provider]
        app = self.app_secret(provider)
        try:
            fresh = client.refresh(app, tokens)
        except TokenRevoked:
            latest = self._read(secret_name, bypass_cache=True)
            if latest["refreshToken"] == tokens["refreshToken"]:
                raise
            log.info("refresh token was rotated by another worker; using the stored one", extra={"provider": provider})
            fresh = client.refresh(app, latest) if latest["expiresAt"] <= time.time() + self._margin else latest
        if self._on_refresh:
            self._on_refresh(provider)
        self._cache.put(secret_name, fresh, dirty=True)
        self._store_back(secret_name, fresh)
        return fresh

    def _store_back(self, name: str, tokens: ProviderTokens) -> None:
        try:
            self.secrets_calls += 1
            self._sm.put_secret_value(SecretId=name, SecretString=json.dumps(tokens))
        except (ClientError, BotoCoreError) as exc:
            log.error("could not store rotated tokens; kept in cache, will retry",
                      extra={"reason": type(exc).__name__})
            return
        self._cache.put(name, tokens, dirty=False)

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())
