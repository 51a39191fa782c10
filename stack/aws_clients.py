"""boto3 clients for the stack's AWS services, configured from an environment mapping.

Services running as their own processes simply use ``os.environ`` (boto3 reads the standard
``AWS_ENDPOINT_URL[_SERVICE]`` variables itself). In-process callers (the launcher, tests) pass the stack's
environment explicitly so they do not have to mutate ``os.environ``; the lookup mirrors boto3's own rule
(per-service variable first, then the global one, else the real AWS endpoint), so nothing here is
endpoint-specific.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Mapping

import boto3
from botocore.config import Config

# The suffix boto3 uses for each service's AWS_ENDPOINT_URL_<SUFFIX> variable.
ENDPOINT_ENV_SUFFIX = {
    "sqs": "SQS",
    "dynamodb": "DYNAMODB",
    "secretsmanager": "SECRETS_MANAGER",
    "s3": "S3",
    "events": "EVENTBRIDGE",
}
CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=30,
                       max_pool_connections=32)


def endpoint_for(service: str, env: Mapping[str, str]) -> str | None:
    return env.get(f"AWS_ENDPOINT_URL_{ENDPOINT_ENV_SUFFIX[service]}") or env.get("AWS_ENDPOINT_URL") or None


_SESSION_LOCK = threading.Lock()
_SESSION: boto3.session.Session | None = None


def _shared_session() -> boto3.session.Session:
    """One boto3 session for the process: a new session per client re-reads every model file (~0.15 s each),
    and boto3's default session is not safe to create clients from several threads, hence the lock."""
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session()
    return _SESSION


def client(service: str, env: Mapping[str, str] | None = None) -> Any:
    """A boto3 client for ``service`` using credentials, region and endpoint from ``env`` (default os.environ)."""
    with _SESSION_LOCK:
        session = _shared_session()
        if env is None or env is os.environ:
            return session.client(service, config=CLIENT_CONFIG)
        return session.client(
            service,
            region_name=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            endpoint_url=endpoint_for(service, env),
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
            config=CLIENT_CONFIG,
        )


def prewarm(services: tuple[str, ...] = tuple(ENDPOINT_ENV_SUFFIX)) -> None:
    """Load the services' models now (e.g. while the emulators start) so later clients are created in ~5 ms."""
    placeholder = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    for service in services:
        client(service, placeholder)
