"""Clients the harness reuses across experiments on one stack: a boto3 client per (service, endpoint) and a
FakeControl per fake. Building them costs ~0.25 s each (botocore loads its service models, httpx builds an SSL
context) and an experiment needs a dozen: on a shared 2-core machine that was seconds per short experiment."""
from __future__ import annotations

import threading
from typing import Any, Mapping

from fake_providers.control import FakeControl

ENDPOINT_KEYS = {"sqs": "AWS_ENDPOINT_URL_SQS", "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB", "s3": "AWS_ENDPOINT_URL_S3"}
_lock = threading.Lock()
_aws: dict[tuple[str, str | None], Any] = {}
_fakes: dict[str, FakeControl] = {}


def aws_client(service: str, aws_env: Mapping[str, str]) -> Any:
    """A boto3 client (thread-safe) for ``service`` of the stack whose environment is ``aws_env``."""
    import boto3
    from botocore.config import Config

    endpoint = aws_env.get(ENDPOINT_KEYS[service])
    with _lock:
        client = _aws.get((service, endpoint))
        if client is None:
            session = boto3.session.Session(aws_access_key_id=aws_env.get("AWS_ACCESS_KEY_ID", "testing"),
                                             aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY", "testing"),
                                             region_name=aws_env.get("AWS_DEFAULT_REGION", "us-east-1"))
            client = session.client(service, endpoint_url=endpoint, config=Config(
                retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=2, read_timeout=30,
                max_pool_connections=10))
            _aws[(service, endpoint)] = client
        return client


def fake_control(url: str) -> FakeControl:
    """The control client of the fake at ``url`` (kept open; do not close it)."""
    with _lock:
        control = _fakes.get(url)
        if control is None:
            control = _fakes[url] = FakeControl(url, timeout=10)
        return control
