"""The provider model base: all state of one fake (users, tokens, clock, data, counters, faults, config) with no
HTTP in it. Each provider subclasses it with its own policies, gate (auth + scopes + rate limits), error
rendering and webhook payloads."""
from __future__ import annotations

import time
from typing import Any, Iterable

from aiohttp import web

from .clock import FakeClock
from .config import Config
from .counters import Counters
from .errors import ControlError, ProviderError
from .faults import FaultEngine
from .heavy import SizedCache
from .oauth import AccessToken, TokenPair, TokenPolicy, TokenStore, bearer
from .ratelimit import Windows
from .routing import RouteMeta, json_response
from .synth import ID_BLOCK, WRITE_BASE, SynthData, UserProfile, Workout
from .util import payload_identity, stable_hash
from .webhooks import WebhookEmitter


class User:
    def __init__(self, user_id: str, seq: int, profile: UserProfile, scopes: list[str], client_id: str) -> None:
        self.user_id = user_id
        self.seq = seq
        self.profile = profile
        self.scopes = list(scopes)
        self.client_id = client_id
        self.revoked = False
        self.written: list[Workout] = []
        self.weights: list[dict] = []
        self.notified_until = profile.created_at
        self.next_at: float | None = None
        self.subscriptions: dict[str, dict] = {}
        self.disabled: set[str] = set()
        self.extra: dict[str, Any] = {}

    def next_write_id(self) -> int:
        return (self.seq + 1) * ID_BLOCK + WRITE_BASE + len(self.written) + len(self.weights)


class ProviderState:
    provider = "base"
    default_scopes: list[str] = []
    all_scopes: list[str] = []
    scope_sep = " "

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self.config = Config(self.provider_defaults(), overrides)
        self.clock = FakeClock()
        self.counters = Counters()
        self.windows = Windows()
        self.users: dict[str, User] = {}
        self.base_url = ""
        self.started_at = time.time()
        seed = int(self.config["seed"])
        self.tokens = TokenStore(self.token_policy(), seed)
        self.synth = SynthData(seed, float(self.config["activities_per_day"]))
        self.faults = FaultEngine(self.provider, seed)
        self.heavy = SizedCache(int(self.config["heavy_cache_entries"]))
        self.light = SizedCache(4096)
        self.emitter = WebhookEmitter(self)
        self.clock.on_change(self.emitter.wake)
        self._seq = 0
        self.reset_provider()

    # -- provider hooks (overridden) ---------------------------------------------------------------------------
    @property
    def service(self) -> str:
        return f"fake-{self.provider}"

    def provider_defaults(self) -> dict[str, Any]:
        return {}

    def token_policy(self) -> TokenPolicy:
        raise NotImplementedError

    def routes(self) -> list[RouteMeta]:
        raise NotImplementedError

    def reset_provider(self) -> None:
        """Clear provider-specific state (subscriptions, uploads...)."""

    def clear_caches(self) -> None:
        """Drop provider document caches (after the seed or the data settings changed)."""

    def new_user_id(self, n: int) -> str:
        return f"user{n}"

    def render_error(self, err: ProviderError) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def gate(self, request: web.Request, meta: RouteMeta, token: str | None) -> User | None:
        """Authenticate, check scopes and rate limits for a provider route; raise ProviderError to refuse."""
        raise NotImplementedError

    def decorate(self, request: web.Request, meta: RouteMeta | None, response: web.StreamResponse,
                 user: User | None, err: ProviderError | None) -> None:
        """Add per-response headers (rate-limit usage...)."""

    def on_revoked(self, user: User, reason: str) -> None:
        """Send the provider's revocation notification (if a subscriber is configured)."""

    def notify_new(self, items: list[tuple[User, Workout]]) -> None:
        """Send notifications for workouts that just became visible."""

    def emit(self, user: User, params: dict[str, Any]) -> list:
        """Control-API triggered emission; returns futures of the queued deliveries."""
        raise ControlError("this fake has no webhooks")

    async def verify_subscriber(self, params: dict[str, Any]) -> dict:
        raise ControlError("this provider has no subscriber verification")

    def webhook_url(self) -> str | None:
        return self.config["webhook_url"]

    def athlete_json(self, user: User) -> dict:
        return {}

    # -- the one place errors become wire responses ---------------------------------------------------------
    def error_response(self, err: ProviderError) -> web.Response:
        status, body, headers = self.render_error(err)
        if err.body is not None:
            body = err.body
        h = dict(headers)
        h.update(err.headers)
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=h)
        return json_response(body, status=status, headers=h)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.config.reset()
        self.clock.reset()
        self.users.clear()
        self.tokens.clear()
        self.counters.reset()
        self.windows.clear()
        self.faults.clear()
        self.heavy = SizedCache(int(self.config["heavy_cache_entries"]))
        self.light.clear()
        self.emitter.reset()
        self._unwatched_until = 0.0
        self._seq = 0
        self._apply_seed(int(self.config["seed"]))
        self.reset_provider()

    def set_seed(self, seed: int) -> None:
        self.config.values["seed"] = int(seed)
        self._apply_seed(int(seed))
        for u in self.users.values():
            old = u.profile
            u.profile = self.synth.profile(u.user_id, u.seq, old.created_at, 0)
            u.profile.history_start = old.history_start
            u.next_at = None

    def _apply_seed(self, seed: int) -> None:
        self.tokens.seed = seed
        self.synth.seed = seed
        self.synth.activities_per_day = float(self.config["activities_per_day"])
        self.synth.clear_cache()
        self.heavy.clear()
        self.light.clear()
        self.clear_caches()
        self.faults.reseed(seed)

    def update_config(self, patch: dict) -> dict:
        before = (self.config["activities_per_day"], self.config["heavy_cache_entries"])
        values = self.config.update(patch)
        if self.config["activities_per_day"] != before[0]:
            self.synth.activities_per_day = float(self.config["activities_per_day"])
            self.synth.clear_cache()
            self.light.clear()
            self.heavy.clear()
            self.clear_caches()
            for u in self.users.values():
                u.next_at = None
        if self.config["heavy_cache_entries"] != before[1]:
            self.heavy.max_entries = int(self.config["heavy_cache_entries"])
        self.tokens.policy = self.token_policy()
        self.emitter.wake()
        return values

    # -- users ---------------------------------------------------------------------------------------------------
    def create_user(self, user_id: str | None = None, scopes: list[str] | None = None,
                    history_days: int | None = None, client_id: str | None = None,
                    with_tokens: bool = True) -> tuple[User, TokenPair | None]:
        now = self.clock.now()
        if user_id is None:
            n = self._seq + 1
            user_id = self.new_user_id(n)
            while user_id in self.users:
                n += 7919
                user_id = self.new_user_id(n)
        user_id = str(user_id)
        if scopes is None:
            scopes = list(self.default_scopes)
        bad = [s for s in scopes if self.all_scopes and s not in self.all_scopes]
        if bad:
            raise ControlError(f"unknown scope(s) {bad} for {self.provider}; known: {self.all_scopes}")
        if user_id in self.users:
            user = self.users[user_id]
            user.scopes = list(scopes)
            user.revoked = False
        else:
            hd = self.config["history_days"] if history_days is None else int(history_days)
            if hd < 0 or hd > 3660:
                raise ControlError("history_days must be between 0 and 3660")
            profile = self.synth.profile(user_id, self._seq, now, hd)
            user = User(user_id, self._seq, profile, scopes, client_id or self.config["client_id"] or "swsim")
            self._seq += 1
            self.users[user_id] = user
        pair = self.tokens.issue(user_id, user.client_id, user.scopes, now) if with_tokens else None
        return user, pair

    def token_json(self, user: User, pair: TokenPair) -> dict:
        return {"user_id": user.user_id, "access_token": pair.access.token, "refresh_token": pair.refresh.token,
                "expires_at": int(pair.access.expires_at), "expires_in": pair.expires_in,
                "scope": self.scope_sep.join(pair.access.scopes), "scopes": pair.access.scopes,
                "token_type": "Bearer"}

    def user_json(self, user: User) -> dict:
        p = user.profile
        now = self.clock.now()
        return {"user_id": user.user_id, "seq": user.seq, "scopes": user.scopes, "revoked": user.revoked,
                "client_id": user.client_id, "created_at": p.created_at, "history_start": p.history_start,
                "profile": {"first_name": p.first_name, "last_name": p.last_name, "city": p.city,
                            "country": p.country, "timezone": p.tz, "lat": p.lat, "lng": p.lng, "sex": p.sex,
                            "weight_kg": p.weight_kg, "height_cm": p.height_cm, "archetype": p.archetype,
                            "device": p.device},
                "visible_workouts": len(self.workouts(user)), "written": len(user.written),
                "weights_written": len(user.weights), "subscriptions": user.subscriptions,
                "disabled_summaries": sorted(user.disabled), "tokens": self.tokens.live_tokens(user.user_id, now)}

    def get_user(self, user_id: str) -> User:
        u = self.users.get(user_id)
        if u is None:
            raise ControlError(f"no user {user_id!r}", status=404)
        return u

    def revoke_user(self, user_id: str, reason: str = "control", notify: bool = True) -> int:
        user = self.users.get(user_id)
        if user is None:
            return 0
        n = self.tokens.revoke_user(user_id)
        was = user.revoked
        user.revoked = True
        if notify and not was:
            self.on_revoked(user, reason)
        return n

    # -- auth helpers ------------------------------------------------------------------------------------------
    def peek_user(self, token: str | None) -> str | None:
        rec = self.tokens.peek(token)
        return rec.user_id if rec is not None else None

    def check_token(self, token: str | None) -> tuple[User, AccessToken]:
        rec = self.tokens.validate(token, self.clock.now())
        user = self.users.get(rec.user_id)
        if user is None:
            raise ProviderError(401, "invalid_token", "Unknown user")
        return user, rec

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        want_id, want_secret = self.config["client_id"], self.config["client_secret"]
        if want_id is not None and client_id != str(want_id):
            raise ProviderError(401, "invalid_client", "Invalid client_id", detail="client_id")
        if want_secret is not None and client_secret != want_secret:
            raise ProviderError(401, "invalid_client", "Invalid client_secret", detail="client_secret")

    def signing_secret(self) -> str:
        return self.config["client_secret"] or self.config["default_client_secret"]

    def access_ttl(self, default: int) -> int:
        v = self.config["access_ttl"]
        return int(v) if v else default

    # -- data ----------------------------------------------------------------------------------------------------
    def workouts(self, user: User) -> list[Workout]:
        return self.synth.workouts(user.profile, self.clock.now(), user.written)

    def workout(self, user: User, wid: int) -> Workout | None:
        now = self.clock.now()
        w = self.synth.workout_by_id(user.profile, wid, now)
        if w is not None:
            return w
        for w in user.written:
            if w.id == wid and w.available_at <= now:
                return w
        return None

    def new_written_workout(self, user: User, **fields: Any) -> Workout:
        p = user.profile
        now = self.clock.now()
        defaults = dict(id=user.next_write_id(), user_id=user.user_id, day=0, idx=0, sport="run", start=now - 3600,
                        utc_offset=0, elapsed=3600, moving=3600, distance=0.0, elev_gain=0.0, avg_hr=None,
                        max_hr=None, calories=0, steps=0, has_gps=False, lat=p.lat, lng=p.lng, name="Activity",
                        available_at=now, device="API", manual=True, source="api", last_modified=now)
        defaults.update(fields)
        w = Workout(**defaults)
        user.written.append(w)
        return w

    def record_write(self, user: User, route: str, payload: Any, external_id: str | None = None,
                     **extra: Any) -> dict:
        entry = {"user_id": user.user_id, "route": route, "identity": payload_identity(payload, external_id),
                 "external_id": external_id, "at": self.clock.now(), **extra}
        self.counters.record_write(entry)
        return entry

    # -- webhooks --------------------------------------------------------------------------------------------
    def scan_new_data(self) -> None:
        now = self.clock.now()
        if not self.webhook_url():
            # nobody to tell: data that appears meanwhile is not announced later as a burst
            self._unwatched_until = now
            return
        fresh: list[tuple[User, Workout]] = []
        floor = getattr(self, "_unwatched_until", 0.0)
        for user in list(self.users.values()):
            if user.revoked:
                continue
            if user.notified_until < floor:
                user.notified_until = floor
                user.next_at = None
            if user.next_at is None:
                nxt = self.synth.upcoming(user.profile, max(user.notified_until, user.profile.created_at))
                user.next_at = nxt.available_at if nxt else now + 86400
            if user.next_at > now:
                continue
            items = [w for w in self.synth.workouts(user.profile, now)
                     if user.notified_until < w.available_at <= now]
            user.notified_until = now
            nxt = self.synth.upcoming(user.profile, now)
            user.next_at = nxt.available_at if nxt else now + 86400
            fresh.extend((user, w) for w in items)
        if fresh and self.webhook_url():
            self.notify_new(fresh)

    def stable(self, *parts: Any) -> int:
        return stable_hash(self.config["seed"], *parts)


def parse_json_body(raw: bytes) -> Any:
    from .util import loads
    if not raw:
        return {}
    try:
        return loads(raw)
    except Exception as exc:
        raise ControlError(f"body is not valid JSON: {exc}") from exc


__all__ = ["ProviderState", "User", "parse_json_body", "bearer", "Iterable"]
