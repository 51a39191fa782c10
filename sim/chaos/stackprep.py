"""The stack an experiment runs on: tuned so a short experiment can see a whole story in seconds.

- coalescer delay 2 s instead of 60 s (webhook jobs appear within the experiment, not a minute later);
- backoff base 0.5 s instead of 2 s (a non-transient failure walks its 5 receives in seconds, not a minute);
- visibility timeout 30 s (a killed worker's messages come back within a short experiment);
- the fakes' own provider rate limits off (Strava's 15-minute window would park jobs for 5 minutes; the 429
  storm experiment injects 429s on purpose instead);
- 2 worker processes, so "AZ failure = half of them" means something.
"""
from __future__ import annotations

from typing import Any, Mapping

from fake_providers.control import FakeControl

CHAOS_APPCONFIG: Mapping[str, Any] = {"coalescer": {"delay_s": 2},
                                      "worker": {"backoff_base_s": 0.5, "backoff_cap_s": 20,
                                                 "visibility_timeout_s": 30}}
CHAOS_WORKERS = 2
PROVIDERS = ("strava", "fitbit", "garmin")
RATE_LIMITS_OFF = {"strava": {"enabled": False}, "fitbit": {"enabled": False}, "garmin": {"enabled": False}}


def stack_options(users: int = 20, seed: int = 1, extra_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments of ``Stack.start`` for chaos runs."""
    return {"users": users, "seed": seed, "appconfig": dict(CHAOS_APPCONFIG), "workers": CHAOS_WORKERS,
            "extra_env": dict(extra_env or {})}


def prepare(stack: Any) -> None:
    """Make a running stack experiment-ready (the fakes' rate limits off)."""
    for provider in PROVIDERS:
        if f"fake-{provider}" in stack.endpoints:
            with FakeControl(stack.fake_url(provider)) as control:
                control.set_config(rate_limits=RATE_LIMITS_OFF[provider])


def start_stack(users: int = 20, seed: int = 1, extra_env: Mapping[str, str] | None = None) -> Any:
    from stack.launcher import Stack

    stack = Stack.start(**stack_options(users, seed, extra_env))
    prepare(stack)
    return stack
