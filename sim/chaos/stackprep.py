"""The stack an experiment runs on: tuned so a short experiment can see a whole story in seconds.

- coalescer delay 2 s instead of 60 s (webhook jobs appear within the experiment, not a minute later);
- backoff base 0.25 s instead of 2 s, cap 10 s (a non-transient failure walks its 5 receives in seconds, not a minute);
- visibility timeout 10 s (a killed worker's messages come back within seconds; the light jobs below take far less);
- the fakes' own provider rate limits off (Strava's 15-minute window would park jobs for 5 minutes; the 429
  storm experiment injects 429s on purpose instead);
- 2 worker processes, so "AZ failure = half of them" means something;
- users with 3 days of history and light heavy payloads (20 kB instead of 500 kB): a user's first sync is a few
  writes, not 90 days of streams, so a short experiment's jobs finish in seconds on a loaded machine (what the
  experiments judge is how the system copes with faults, not the size of the backlog).
"""
from __future__ import annotations

from typing import Any, Mapping

from fake_providers.control import FakeControl

CHAOS_APPCONFIG: Mapping[str, Any] = {"coalescer": {"delay_s": 2},
                                      "worker": {"backoff_base_s": 0.25, "backoff_cap_s": 10,
                                                 "visibility_timeout_s": 10}}
CHAOS_WORKERS = 2
PROVIDERS = ("strava", "fitbit", "garmin")
RATE_LIMITS_OFF = {"strava": {"enabled": False}, "fitbit": {"enabled": False}, "garmin": {"enabled": False}}
CHAOS_FAKE_CONFIG: Mapping[str, Any] = {"history_days": 3, "heavy_bytes": 20_000,
                                        "providers": {p: {"rate_limits": RATE_LIMITS_OFF[p]} for p in PROVIDERS}}


def stack_options(users: int = 20, seed: int = 1, extra_env: Mapping[str, str] | None = None,
                  fake_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments of ``Stack.start`` for chaos runs (``fake_config`` adds to the fakes' chaos config)."""
    return {"users": users, "seed": seed, "appconfig": dict(CHAOS_APPCONFIG), "workers": CHAOS_WORKERS,
            "extra_env": dict(extra_env or {}), "fake_config": {**CHAOS_FAKE_CONFIG, **(fake_config or {})}}


def prepare(stack: Any) -> None:
    """Make a running stack experiment-ready (the fakes' rate limits off)."""
    for provider in PROVIDERS:
        if f"fake-{provider}" in stack.endpoints:
            with FakeControl(stack.fake_url(provider)) as control:
                control.set_config(rate_limits=RATE_LIMITS_OFF[provider])


def start_stack(users: int = 20, seed: int = 1, extra_env: Mapping[str, str] | None = None,
                fake_config: Mapping[str, Any] | None = None) -> Any:
    from stack.launcher import Stack

    stack = Stack.start(**stack_options(users, seed, extra_env, fake_config))
    prepare(stack)
    return stack


def reset_between(stack: Any) -> int:
    """Put a shared stack back in shape between experiments: no provider fault left on the fakes, and every
    connection marked ``needs_reauth`` active again, with the API's cached copy of that user's connections dropped
    so the next experiment is not refused with 409s. (A revocation at the fakes is permanent - the fake refuses the
    user's tokens from then on - so the token-revocation experiment runs on a stack of its own.)
    Returns how many connections were restored."""
    import redis

    from sim.chaos.clients import aws_client, fake_control
    from stack import schema
    from stack.api.cache import config_key

    for provider in PROVIDERS:
        if f"fake-{provider}" in stack.endpoints:
            fake_control(stack.fake_url(provider)).clear_faults()
    ddb = aws_client("dynamodb", stack.aws_env)
    items = ddb.query(TableName="SyncWellMetadata", IndexName=schema.REAUTH_GSI,
                      KeyConditionExpression="ReAuthStatus = :n",
                      ExpressionAttributeValues={":n": {"S": "NEEDS_REAUTH"}}).get("Items", [])
    users = set()
    for item in items:
        ddb.update_item(TableName="SyncWellMetadata", Key={"PK": item["PK"], "SK": item["SK"]},
                        UpdateExpression="SET #s = :a REMOVE ReAuthStatus", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":a": {"S": "active"}})
        users.add(item["userId"]["S"] if "userId" in item else item["PK"]["S"].split("#", 1)[1])
    if users and stack.redis_url:
        client = redis.Redis.from_url(stack.redis_url)
        try:
            client.delete(*(config_key(user) for user in users))
        finally:
            client.close()
    return len(items)
