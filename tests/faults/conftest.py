from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

from tests.faults.procs import Child


@pytest.fixture(scope="module")
def moto_ddb_sqs() -> Iterator[dict[str, str]]:
    children = {s: Child(["-m", "stack.launcher.moto_service", "--service", s, "--port", "0"])
                for s in ("dynamodb", "sqs", "secretsmanager")}
    try:
        yield {s: c.url for s, c in children.items()}
    finally:
        for child in children.values():
            child.stop()


@pytest.fixture(scope="module")
def aws_proxy(moto_ddb_sqs: dict[str, str]) -> Iterator[Child]:
    argv = ["-m", "stack.faults.aws_proxy", "--seed", "5"]
    for service, url in moto_ddb_sqs.items():
        argv += ["--upstream", f"{service}={url}"]
    child = Child(argv)
    try:
        yield child
    finally:
        child.stop()


def client(service: str, url: str, max_attempts: int = 3, **config: Any) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "max_attempts": max_attempts},
                                      connect_timeout=2, read_timeout=10, **config))
