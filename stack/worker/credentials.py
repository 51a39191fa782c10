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
- Across processes (with a :class:`~stack.worker.refreshjournal.RefreshJournal`, which the worker and scheduler
  always have): lock the connection's refresh item in DynamoDB -> finish any store a previous refresher left
  pending -> re-read the secret (another worker may have refreshed meanwhile: use its tokens) -> refresh at the
  provider -> write the response ahead to the journal item FIRST -> cache -> PutSecretValue -> settle (delete the
  record). A worker killed after the write-ahead loses nothing: the next one to refresh that connection (after a
  restart, on its next job) stores the pending tokens instead of presenting the refused refresh token. Why this
  order and what it cannot close: stack/worker/refreshjournal.py.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from stack.providers import HttpProvider, TokenRevoked
from stack.schema import ProviderAppSecret, ProviderTokens, provider_app_secret_name
from stack.worker.refreshjournal import PendingTokens, RefreshJournal

log = logging.getLogger("syncwell.worker.credentials")
BATCH_GET_MAX = 20   # BatchGetSecretValue's SecretIdList limit
REFRESH_LOCK_WAIT_S = 3.0   # how long a job waits for another worker's refresh of the same connection
# Tests only: kill this process (SIGKILL, no cleanup) at a point of the refresh protocol, to prove recovery.
CRASH_AT = os.environ.get("SYNCWELL_WORKER_CRASH_AT", "")


class CredentialsUnavailable(Exception):
    """Secrets Manager could not serve credentials we do not have cached: transient."""


class RefreshInProgress(CredentialsUnavailable):
    """Another worker holds this connection's refresh lock: retry shortly (the worker treats it like a busy lock,
    never as a failure)."""

    retry_after_s = 1.0


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
                 on_refresh: Callable[[str], None] | None = None, journal: RefreshJournal | None = None,
                 lock_wait_s: float = REFRESH_LOCK_WAIT_S) -> None:
        self._sm = secrets_client
        self._journal = journal
        self._lock_wait_s = lock_wait_s
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self.recovered_refreshes = 0
        self._providers = providers
        self._cache = LruTtlCache(max_entries, ttl_s)
        self._margin = refresh_margin_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._on_refresh = on_refresh
        self.secrets_calls = 0

    def use_journal(self, journal: RefreshJournal) -> None:
        """Coordinate refreshes with every other process through ``journal`` (see the module doc)."""
        self._journal = journal

    # --- reads ---------------------------------------------------------------------------------------------
    def app_secret(self, provider: str) -> ProviderAppSecret:
        return self._read(provider_app_secret_name(provider))

    def tokens(self, secret_name: str) -> ProviderTokens:
        return self._read(secret_name)

    def _read(self, name: str, bypass_cache: bool = False) -> Any:
        entry = self._cache.get(name)
        # A dirty entry (rotated tokens not yet stored) is newer than the secret: even a bypassing read must not
        # replace it with what Secrets Manager still holds.
        if entry is not None and (entry.dirty or not bypass_cache):
            if entry.dirty and self._store_back(name, entry.value):
                self._settle(name, entry.value)
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
        if not force_refresh and not self._expiring(tokens):
            return tokens["accessToken"]
        with self._lock_for(secret_name):
            current = self.tokens(secret_name)
            if current["accessToken"] != tokens["accessToken"] and not self._expiring(current):
                return current["accessToken"]  # another thread refreshed while we waited
            if self._journal is None:
                return self._refresh(provider, secret_name, current)["accessToken"]
            return self._refresh_exclusive(provider, secret_name, current)["accessToken"]

    def _expiring(self, tokens: ProviderTokens) -> bool:
        return tokens["expiresAt"] <= time.time() + self._margin

    def _refresh_exclusive(self, provider: str, secret_name: str, seen: ProviderTokens) -> ProviderTokens:
        """Refresh under the connection's cross-process lock (module doc); ``seen``: the tokens we found wanting."""
        assert self._journal is not None
        owner = f"{self._owner}:{threading.get_ident()}"
        pending = self._acquire(secret_name, owner)
        try:
            latest = self._recover(secret_name, pending)
            if latest["accessToken"] != seen["accessToken"] and not self._expiring(latest):
                return latest  # another worker refreshed, or we just finished storing what a dead one obtained
            return self._refresh(provider, secret_name, latest, owner=owner)
        finally:
            # Conditional on holding it with nothing pending: a record whose store failed stays for the next holder.
            self._journal_call("release", lambda: self._journal.release(secret_name, owner))  # type: ignore[union-attr]

    def _acquire(self, secret_name: str, owner: str) -> PendingTokens | None:
        """The refresh lock, waiting up to ``lock_wait_s`` for a live holder; returns what it left pending."""
        assert self._journal is not None
        deadline = time.monotonic() + self._lock_wait_s
        delay = 0.05
        while True:
            try:
                acquired = self._journal.acquire(secret_name, owner)
            except (ClientError, BotoCoreError) as exc:
                raise CredentialsUnavailable(f"refresh lock unavailable: {type(exc).__name__}") from exc
            if acquired is not None:
                return acquired.pending
            if time.monotonic() + delay > deadline:
                raise RefreshInProgress("another worker is refreshing this connection's tokens")
            time.sleep(delay)
            delay = min(delay * 2, 0.4)

    def _recover(self, secret_name: str, pending: PendingTokens | None) -> ProviderTokens:
        """The newest tokens: the secret as stored now, or a refresh's pending tokens whose store never landed
        (then stored now). A pending record the secret has moved past (stored already, or a reconnect stored a new
        grant) is dropped."""
        try:
            latest = self._read(secret_name, bypass_cache=True)
        except CredentialsUnavailable:
            if pending is None:
                raise
            self._cache.put(secret_name, pending.tokens, dirty=True)  # stored when Secrets Manager is back
            return pending.tokens
        if pending is None:
            return latest
        if latest["refreshToken"] != pending.based_on:
            self._settle(secret_name, pending.tokens)
            return latest
        log.warning("recovering refreshed tokens whose store never landed (a worker died or Secrets Manager failed)")
        self.recovered_refreshes += 1
        self._cache.put(secret_name, pending.tokens, dirty=True)
        if self._store_back(secret_name, pending.tokens):
            self._settle(secret_name, pending.tokens)
        return pending.tokens

    def _refresh(self, provider: str, secret_name: str, tokens: ProviderTokens, owner: str = "") -> ProviderTokens:
        client = self._providers[provider]
        app = self.app_secret(provider)
        try:
            fresh = client.refresh(app, tokens)
        except TokenRevoked:
            # Another worker may have rotated it first: its tokens are in the secret, or still pending in the journal.
            pending = self._journal.pending(secret_name) if self._journal is not None else None
            latest = self._recover(secret_name, pending)
            if latest["refreshToken"] == tokens["refreshToken"]:
                raise
            log.info("refresh token was rotated by another worker; using the stored one", extra={"provider": provider})
            if not self._expiring(latest):
                return latest
            tokens, fresh = latest, client.refresh(app, latest)
        self._record(provider, secret_name, fresh, tokens["refreshToken"], owner)
        return fresh

    def _record(self, provider: str, secret_name: str, fresh: ProviderTokens, based_on: str, owner: str) -> None:
        """Make a refresh response durable: the write-ahead record first, then the cache and Secrets Manager."""
        if self._journal is not None:
            try:
                self._journal.write_ahead(secret_name, owner or self._owner, fresh, based_on)
            except (ClientError, BotoCoreError) as exc:
                log.error("could not write refreshed tokens ahead; storing them in Secrets Manager directly",
                          extra={"reason": type(exc).__name__})
            if CRASH_AT == "after_refresh_write_ahead":
                os.kill(os.getpid(), signal.SIGKILL)
        self._cache.put(secret_name, fresh, dirty=True)
        if self._on_refresh:
            self._on_refresh(provider)
        if self._store_back(secret_name, fresh):
            self._settle(secret_name, fresh)

    def _store_back(self, name: str, tokens: ProviderTokens) -> bool:
        try:
            self.secrets_calls += 1
            self._sm.put_secret_value(SecretId=name, SecretString=json.dumps(tokens))
        except (ClientError, BotoCoreError) as exc:
            log.error("could not store rotated tokens; kept in cache (and the refresh journal), will retry",
                      extra={"reason": type(exc).__name__})
            return False
        self._cache.put(name, tokens, dirty=False)
        return True

    def _settle(self, name: str, tokens: ProviderTokens) -> None:
        """Tokens are in Secrets Manager: their write-ahead record (if any) is done."""
        if self._journal is not None and tokens.get("refreshToken"):
            self._journal_call("settle", lambda: self._journal.settle(name, tokens["refreshToken"]))  # type: ignore[union-attr]

    def _journal_call(self, what: str, call: Callable[[], None]) -> None:
        """A clean-up call on the journal: failing leaves a record the next holder handles, never an error."""
        try:
            call()
        except (ClientError, BotoCoreError) as exc:
            log.warning("refresh journal %s failed; the next refresh of this connection handles the record", what,
                        extra={"reason": type(exc).__name__})

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())
