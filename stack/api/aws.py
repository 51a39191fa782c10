"""The API's AWS clients: one boto3 client per service, created once (boto3 clients are thread-safe), called
from a bounded thread pool so the event loop never blocks, with short timeouts and few retries so an
unavailable dependency turns into a fast 503 instead of a hung request.

DynamoDB, SQS and Secrets Manager calls go through the botocore-free wire client (stack/awswire:
same method names, shapes, errors and standard retries; operations it does not cover, e.g. TransactWriteItems,
fall back to the boto3 client it wraps, whose User-Agent is computed once). Why: botocore's per-call machinery
was ~55 % of the API process's CPU on the submit path (py-spy, bench/bench_hotpath.py at 100 syncs/s).
``SWSIM_API_CLIENT=boto3`` in the API's environment serves every call with plain boto3, as before.
"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stack import awswire
from stack.api.errors import DependencyUnavailable
from stack.config import StackConfig

T = TypeVar("T")
CLIENT_SWITCH = "SWSIM_API_CLIENT"   # "boto3": no wire client (comparison, or a suspected wire-client bug)

# Codes that mean "the dependency is unhealthy or overloaded", as opposed to a request we got wrong.
UNAVAILABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "InternalFailure", "Throttling", "SlowDown",
    "InternalError", "RequestTimeout", "ServiceUnavailableException", "InternalServiceError",
})


@dataclass
class AwsClients:
    dynamodb: Any
    sqs: Any
    s3: Any
    secrets: Any
    executor: ThreadPoolExecutor
    deadline_s: float = 3.0     # a call still unanswered after this is reported unavailable (no hung requests)

    @classmethod
    def create(cls, config: StackConfig, endpoints: Mapping[str, str] | None = None) -> "AwsClients":
        """Clients honouring the standard ``AWS_ENDPOINT_URL[_SERVICE]`` variables, or explicit ``endpoints``
        ({"dynamodb": url, ...}) when given (tests)."""
        api = config.tuning.get("api", {})
        # One thread per connection: a call holds its thread for its whole round trip, so more threads than
        # connections would only queue for the pool, and fewer would leave connections idle. 32 keeps 2 cores'
        # GIL hand-offs cheap while covering a saturated DynamoDB's queueing (calls wait there, not here).
        pool = int(api.get("aws_max_connections", 32))
        botocore_config = Config(
            region_name=config.region,
            connect_timeout=float(api.get("aws_connect_timeout_s", 1.0)),
            read_timeout=float(api.get("aws_read_timeout_s", 3.0)),
            retries={"total_max_attempts": int(api.get("aws_max_attempts", 2)), "mode": "standard"},
            max_pool_connections=pool,
            tcp_keepalive=True,
            # The Store builds every request itself; botocore's per-call validation walk costs ~0.1 ms of CPU
            # per call on the event loop's core for nothing.
            parameter_validation=False,
        )
        # boto3's default session: in the stack's fork server its service models are already loaded
        # (stack.launcher.zygote), so the four clients cost milliseconds instead of ~0.3 s of JSON parsing.
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        endpoints = endpoints or {}

        def client(name: str) -> Any:
            extra = {"endpoint_url": endpoints[name]} if name in endpoints else {}
            # SigV4 for S3 so presigned export URLs carry X-Amz-Expires (1 h) as on real AWS.
            merged = botocore_config.merge(Config(signature_version="s3v4")) if name == "s3" else botocore_config
            return lean(session.client(name, config=merged, **extra), botocore_config)

        return cls(dynamodb=client("dynamodb"), sqs=client("sqs"), s3=client("s3"),
                   secrets=client("secretsmanager"),
                   executor=ThreadPoolExecutor(max_workers=pool, thread_name_prefix="aws"),
                   deadline_s=float(api.get("aws_call_deadline_s", 4.0)))

    async def call(self, service: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run one blocking boto3 call in the pool; dependency failures become ``DependencyUnavailable``.

        ClientErrors that describe the request (ConditionalCheckFailed, ResourceNotFound...) are re-raised for
        the caller to interpret.
        """
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.executor, functools.partial(fn, **kwargs)),
                                          self.deadline_s)
        except asyncio.TimeoutError as exc:
            raise DependencyUnavailable(service, f"no answer within {self.deadline_s} s") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in UNAVAILABLE_CODES or status >= 500:
                raise DependencyUnavailable(service, code or str(status)) from exc
            raise
        except BotoCoreError as exc:
            raise DependencyUnavailable(service, type(exc).__name__) from exc
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # botocore could not parse what the endpoint sent back: the dependency misbehaves, not the client.
            raise DependencyUnavailable(service, f"unreadable response ({type(exc).__name__})") from exc

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def lean(client: Any, config: Config) -> Any:
    """``client`` behind the wire client (stack/awswire) with the same timeouts, pool size and attempts."""
    return awswire.lean(client, switch_env=CLIENT_SWITCH, pool=config.max_pool_connections,
                        connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                        max_attempts=config.retries["total_max_attempts"])


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
