"""Runtime configuration of one fake, changed through ``PUT /_fake/config`` with validation (unknown keys and wrong
types are refused with a 400 that says what is wrong)."""
from __future__ import annotations

import copy
from typing import Any

from .errors import ControlError

COMMON_DEFAULTS: dict[str, Any] = {
    "seed": 42,
    "heavy_bytes": 500_000,          # heavy payload (streams / TCX / activityDetails) size, bytes
    "light_bytes": 5_000,            # light detail document size (Strava activity detail), bytes
    "heavy_cache_entries": 128,      # LRU of serialized heavy bodies
    "history_days": 90,              # default history of a new user
    "activities_per_day": 1.0,       # multiplier on each user's workout frequency
    "webhook_url": None,             # where notifications go (Strava: a push subscription's callback wins)
    "webhook_auto": True,            # emit when new data appears as the clock moves
    "webhook_poll_seconds": 0.5,     # how often (real time) the emitter looks for new data
    "webhook_timeout_seconds": None, # per-attempt timeout (provider default when None)
    "webhook_attempts": None,        # attempts in all (provider default when None)
    "webhook_retry_backoff_seconds": 0.2,
    "webhook_concurrency": 1,        # senders; 1 keeps deliveries in order (faults aside)
    "webhook_require_subscription": False,  # Fitbit: notify only users with an apiSubscription
    "client_id": None,               # None: any client id is accepted
    "client_secret": None,           # None: any secret is accepted (Fitbit signs with the default below)
    "default_client_secret": "swsim-client-secret",
    "upload_processing_seconds": 2.0,  # Strava: an upload is "ready" this long (fake clock) after it arrived
    "rotate_refresh_tokens": True,
    "access_ttl": None,              # seconds; provider default when None
    "rate_limits": {},
    "verify_code": "swsim-verify",   # Fitbit subscriber verification code
    "garmin_mode": "ping",           # ping | push
    "garmin_require_pull_token": False,
    "per_page_max": 200,             # Strava per_page cap (unconfirmed upstream)
}


class Config:
    def __init__(self, provider_defaults: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self._defaults = copy.deepcopy(COMMON_DEFAULTS)
        for k, v in provider_defaults.items():
            if isinstance(v, dict) and isinstance(self._defaults.get(k), dict):
                self._defaults[k] = {**self._defaults[k], **v}
            else:
                self._defaults[k] = v
        self._startup = copy.deepcopy(self._defaults)
        if overrides:
            self._apply(self._startup, overrides)
        self.values: dict[str, Any] = copy.deepcopy(self._startup)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def rl(self, key: str) -> Any:
        return self.values["rate_limits"].get(key)

    def reset(self) -> None:
        self.values = copy.deepcopy(self._startup)

    def update(self, patch: Any) -> dict[str, Any]:
        if not isinstance(patch, dict):
            raise ControlError("config must be a JSON object")
        trial = copy.deepcopy(self.values)
        self._apply(trial, patch)
        self.values = trial
        return self.values

    def _apply(self, target: dict, patch: dict) -> None:
        for key, value in patch.items():
            if key not in self._defaults:
                raise ControlError(f"unknown config key {key!r}; known keys: {', '.join(sorted(self._defaults))}")
            default = self._defaults[key]
            if isinstance(default, dict):
                if not isinstance(value, dict):
                    raise ControlError(f"config {key!r} must be an object")
                for sub, sv in value.items():
                    if sub not in default:
                        raise ControlError(f"unknown key {key}.{sub}; known: {', '.join(sorted(default))}")
                    _check_type(f"{key}.{sub}", default[sub], sv)
                target[key] = {**target[key], **value}
            else:
                _check_type(key, default, value)
                target[key] = value


def _check_type(name: str, default: Any, value: Any) -> None:
    if value is None or default is None:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ControlError(f"config {name!r} must be true or false, got {value!r}")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ControlError(f"config {name!r} must be a number, got {value!r}")
        if value < 0:
            raise ControlError(f"config {name!r} must be >= 0, got {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ControlError(f"config {name!r} must be a string, got {value!r}")
