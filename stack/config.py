"""Configuration of the SyncWell services: resource names and endpoints from the environment, tuning from
AppConfig with bundled defaults.

AWS endpoints are NOT read here: boto3 honours the standard variables itself (``AWS_ENDPOINT_URL`` and the
per-service ``AWS_ENDPOINT_URL_SQS``, ``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_EVENTBRIDGE``), so the same code runs against moto, LocalStack and
real AWS unchanged.

Environment variables (the one place they are listed):

=============================  ==============================================================  ==================
variable                       meaning                                                         default
=============================  ==============================================================  ==================
SYNCWELL_TABLE_NAME            the DynamoDB table                                              required
SYNCWELL_HOTPATH_QUEUE         hot-path queue name                                             HotPathSyncQueue
SYNCWELL_HOTPATH_DLQ           its dead-letter queue                                           HotPathSyncDLQ
SYNCWELL_COALESCING_QUEUE      webhook FIFO buffer                                             CoalescingBufferQueue.fifo
SYNCWELL_EVENT_BUS             EventBridge bus for SyncSucceeded                               SyncWellEvents
SYNCWELL_EXPORT_BUCKET         S3 bucket for export archives                                   syncwell-exports
SYNCWELL_REDIS_URL             Redis for rate limits and token buckets                         redis://127.0.0.1:6379/0
SYNCWELL_PROVIDER_URL_STRAVA   Strava base URL (serves /oauth/token and /api/v3)               https://www.strava.com
SYNCWELL_PROVIDER_URL_FITBIT   Fitbit base URL (/oauth2/token, /1/user/-/...)                  https://api.fitbit.com
SYNCWELL_PROVIDER_URL_GARMIN   Garmin base URL (/di-oauth2-service/..., /wellness-api/rest)    https://apis.garmin.com
SYNCWELL_JWT_ISSUERS           JSON list of {name, issuer, jwks_url, audience}                 [] (no login works)
SYNCWELL_APPCONFIG_FILE        YAML overriding keys of stack/defaults.yaml                     (bundled defaults)
AWS_DEFAULT_REGION/AWS_REGION  region                                                          us-east-1
=============================  ==============================================================  ==================
"""
from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

PROVIDERS = ("strava", "fitbit", "garmin")
DEFAULT_PROVIDER_URLS = {
    "strava": "https://www.strava.com",
    "fitbit": "https://api.fitbit.com",
    "garmin": "https://apis.garmin.com",
}
BUNDLED_DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
log = logging.getLogger("syncwell.config")


class ConfigError(Exception):
    """The service cannot start with this configuration (e.g. no table name)."""


@dataclass(frozen=True)
class IssuerConfig:
    name: str
    issuer: str
    jwks_url: str
    audience: str


@dataclass(frozen=True)
class StackConfig:
    table_name: str
    region: str = "us-east-1"
    hot_queue: str = "HotPathSyncQueue"
    dlq: str = "HotPathSyncDLQ"
    coalescing_queue: str = "CoalescingBufferQueue.fifo"
    event_bus: str = "SyncWellEvents"
    export_bucket: str = "syncwell-exports"
    redis_url: str = "redis://127.0.0.1:6379/0"
    provider_urls: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PROVIDER_URLS))
    issuers: tuple[IssuerConfig, ...] = ()
    tuning: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "StackConfig":
        env = os.environ if env is None else env
        table = env.get("SYNCWELL_TABLE_NAME", "").strip()
        if not table:
            log.critical("SYNCWELL_TABLE_NAME is not set: refusing to start without a table")
            raise ConfigError("SYNCWELL_TABLE_NAME is not set; the services cannot run without the DynamoDB table name")
        return cls(
            table_name=table,
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            hot_queue=env.get("SYNCWELL_HOTPATH_QUEUE", cls.hot_queue),
            dlq=env.get("SYNCWELL_HOTPATH_DLQ", cls.dlq),
            coalescing_queue=env.get("SYNCWELL_COALESCING_QUEUE", cls.coalescing_queue),
            event_bus=env.get("SYNCWELL_EVENT_BUS", cls.event_bus),
            export_bucket=env.get("SYNCWELL_EXPORT_BUCKET", cls.export_bucket),
            redis_url=env.get("SYNCWELL_REDIS_URL", cls.redis_url),
            provider_urls={p: env.get(f"SYNCWELL_PROVIDER_URL_{p.upper()}", DEFAULT_PROVIDER_URLS[p]).rstrip("/")
                           for p in PROVIDERS},
            issuers=_parse_issuers(env.get("SYNCWELL_JWT_ISSUERS", "")),
            tuning=load_tuning(env.get("SYNCWELL_APPCONFIG_FILE")),
        )

    def tune(self, section: str, key: str) -> Any:
        """One tuning value, e.g. ``config.tune("worker", "batch_size")``."""
        return self.tuning[section][key]


def load_tuning(override_path: str | None = None) -> dict[str, Any]:
    """Bundled defaults, overlaid by the AppConfig file when it can be read (else degraded mode, logged)."""
    tuning = _load_yaml(BUNDLED_DEFAULTS_PATH.read_text())
    if not override_path:
        return tuning
    try:
        overrides = _load_yaml(Path(override_path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("AppConfig unreachable (%s): running on bundled defaults", exc)
        return tuning
    return _deep_merge(tuning, overrides)


def _load_yaml(text: str) -> Any:
    """Safe YAML through libyaml when PyYAML has it (every service parses the defaults at start: ~10x faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_issuers(raw: str) -> tuple[IssuerConfig, ...]:
    if not raw.strip():
        return ()
    try:
        return tuple(IssuerConfig(**item) for item in json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"SYNCWELL_JWT_ISSUERS must be a JSON list of {{name, issuer, jwks_url, audience}}: {exc}") from exc
