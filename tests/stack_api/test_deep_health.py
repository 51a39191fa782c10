"""``GET /health/deep``: 200 with each dependency's status while DynamoDB and SQS answer, 503 naming DynamoDB when
it is unreachable (while the shallow /health keeps passing), and a storm of checks served from the cached verdict."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import RELAXED
from .harness import closed_port

TTL_S = 1.0


@pytest.fixture(scope="module")
def no_dynamodb_api(backend):
    """An API whose DynamoDB refuses connections (a port nothing listens on); SQS and Redis are fine."""
    proc = backend.start_api("no-dynamodb", RELAXED, AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{closed_port()}")
    yield proc
    proc.stop()


def test_deep_health_reports_each_dependency(client: httpx.Client) -> None:
    started = time.monotonic()
    answer = client.get("/health/deep")
    took_ms = (time.monotonic() - started) * 1000
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert {name: dep["status"] for name, dep in body["dependencies"].items()} == {"dynamodb": "ok", "sqs": "ok"}
    print(f"deep health: {took_ms:.1f} ms, dynamodb {body['dependencies']['dynamodb']['latencyMs']} ms, "
          f"sqs {body['dependencies']['sqs']['latencyMs']} ms")


def test_deep_health_is_503_naming_dynamodb_when_it_is_unreachable(no_dynamodb_api) -> None:
    with httpx.Client(base_url=no_dynamodb_api.url, timeout=10) as http:
        started = time.monotonic()
        deep = http.get("/health/deep")
        took = time.monotonic() - started
        shallow = http.get("/health")
    assert deep.status_code == 503, deep.text
    body = deep.json()
    assert body["status"] == "unavailable" and body["failed"] == ["dynamodb"]
    assert body["dependencies"]["dynamodb"]["status"] == "unavailable" and body["dependencies"]["dynamodb"]["detail"]
    assert body["dependencies"]["sqs"]["status"] == "ok"
    assert int(deep.headers["retry-after"]) >= 1
    assert took < 2.5, took          # bounded by the probe's timeout (1 s), not the API's 4 s call deadline
    assert shallow.status_code == 200   # the shallow check cannot see it: why the deep one exists
    print(f"deep health with DynamoDB unreachable: 503 in {took * 1000:.0f} ms "
          f"({body['dependencies']['dynamodb']['detail']})")


def test_a_storm_of_checks_is_served_from_the_cached_verdict(api) -> None:
    def check(_: int) -> tuple[int, tuple[float, float]]:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            answer = http.get("/health/deep")
        deps = answer.json()["dependencies"]
        return answer.status_code, (deps["dynamodb"]["latencyMs"], deps["sqs"]["latencyMs"])

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(check, range(64)))
    elapsed = time.monotonic() - started
    assert {status for status, _ in answers} == {200}
    # One verdict (one probe, its latencies) per TTL at most: 64 checks share a handful.
    verdicts = {latencies for _, latencies in answers}
    assert len(verdicts) <= elapsed / TTL_S + 2, (len(verdicts), elapsed)
    print(f"deep health storm: 64 checks in {elapsed:.2f} s answered from {len(verdicts)} probe(s)")
