"""A botocore-free client for hot-path AWS calls (the worker, the API, the DLQ consumer) (AWS JSON protocols: SQS, DynamoDB, Secrets
Manager, EventBridge), drop-in for the boto3 client it wraps.

Why: a botocore call costs the client ~1.4 ms of CPU (request dict, endpoint ruleset, event hooks, signer,
response walk; measured per GetItem against a moto server in another process), the same request sent by this
client ~0.37 ms, and a sync makes ~1.5 such calls (more for the batch calls' larger bodies). What stays
identical to boto3, so the worker's modules cannot tell the difference:

- method names and request/response shapes (``bytes`` blobs, ``datetime`` timestamps, ``ResponseMetadata``;
  stack/awswire/shapes.py), the wire format (``X-Amz-Target``, ``application/x-amz-json-1.x``, botocore's
  ``x-amzn-query-mode`` for SQS), SigV4 (stack/awswire/sigv4.py), the endpoint (the wrapped client's own,
  i.e. ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL`` / config / the region's AWS endpoint) and the
  credentials (the wrapped client's; refreshable ones are re-frozen per call so they still refresh); keep-alive
  connections (stack/awswire/transport.py) with the same timeouts;
- errors: ``ClientError`` subclasses from the client's own exception factory, with botocore's error code rules
  (``__type`` after ``#``, the ``x-amzn-query-error`` code for SQS, e.g. ``AWS.SimpleQueueService.NonExistentQueue``)
  and the modeled error members (``Item`` of a ConditionalCheckFailedException with ALL_OLD); transport failures
  as botocore's exceptions (``EndpointConnectionError``, ``ConnectTimeoutError``, ``ReadTimeoutError``,
  ``ConnectionClosedError``: all ``BotoCoreError``, which the worker treats as transient);
- retries: botocore's "standard" mode with the caller's ``max_attempts``: transient errors (connection errors,
  500/502/503/504, RequestTimeout...) and throttling codes, jittered exponential backoff, the shared retry quota
  (500 units; 5 per retry, 10 per timeout retry); DynamoDB's ``x-amz-crc32`` is checked (a mismatch is retried).

Not reproduced (the worker does not use them): botocore event hooks, SQS MD5 checks of message bodies, proxies,
endpoint discovery, client-side parameter validation (off in the trimmed boto3 client too). Any operation not in
``OPERATIONS`` and every other attribute (``meta``, ``exceptions``, paginators...) goes to the wrapped boto3 client.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable

from botocore import xform_name
from botocore.configprovider import NEW_RETRIES_ENABLED
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import ConnectTimeoutError, HTTPClientError, NoCredentialsError, ReadTimeoutError

from stack.awswire.shapes import (OutputPlan, encode_body, fill_idempotency_tokens, idempotency_members,
                                      output_plan, parse_body)
from stack.awswire.transport import Transport, WireResponse
from stack.awswire.sigv4 import Credentials, SigV4Signer

# The operations sent directly: everything the worker's modules call (service.py, processor.py, requeue.py,
# idempotency.py, ddb.py, credentials.py) plus their close relatives. Each is exercised by the wire tests.
OPERATIONS: dict[str, frozenset[str]] = {
    "sqs": frozenset({"ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
                      "ChangeMessageVisibilityBatch", "SendMessage", "SendMessageBatch", "GetQueueUrl",
                      "GetQueueAttributes"}),
    "dynamodb": frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem",
                           "BatchWriteItem"}),
    "secretsmanager": frozenset({"GetSecretValue", "BatchGetSecretValue", "PutSecretValue"}),
    "events": frozenset({"PutEvents"}),
}
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException"})
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
USER_AGENT = "swsim-wire/1 (botocore-compatible JSON client)"


class RetryQuota:
    """botocore's standard-mode retry quota: retries stop when an outage has used it up (no retry storms)."""
    INITIAL = 500
    RETRY_COST = 5
    TIMEOUT_RETRY_COST = 10
    SUCCESS_REFUND = 1

    def __init__(self) -> None:
        self._available = self.INITIAL
        self._lock = threading.Lock()

    def acquire(self, amount: int) -> bool:
        with self._lock:
            if amount > self._available:
                return False
            self._available -= amount
            return True

    def release(self, amount: int) -> None:
        with self._lock:
            self._available = min(self.INITIAL, self._available + amount)


class CredentialSource:
    """The wrapped client's credentials: frozen once when static, re-frozen per call when refreshable."""

    def __init__(self, botocore_credentials: Any) -> None:
        self._refreshable = botocore_credentials if hasattr(botocore_credentials, "refresh_needed") else None
        self._static: Credentials | None = None
        if botocore_credentials is not None and self._refreshable is None:
            frozen = botocore_credentials.get_frozen_credentials()
            self._static = Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def get(self) -> Credentials:
        if self._refreshable is not None:
            frozen = self._refreshable.get_frozen_credentials()
            return Credentials(frozen.access_key, frozen.secret_key, frozen.token)
        if self._static is None:
            raise NoCredentialsError()
        return self._static


@dataclass(frozen=True)
class Operation:
    name: str
    target: str
    output: OutputPlan
    idempotency_members: tuple[str, ...]


class WireClient:
    """Drop-in for ``fallback`` (a boto3 client of an AWS JSON-protocol service) on the operations in
    ``OPERATIONS``; everything else is the fallback's."""

    def __init__(self, fallback: Any, *, credentials: Any, pool: int, connect_timeout: float, read_timeout: float,
                 max_attempts: int, sleep: Callable[[float], None] = time.sleep) -> None:
        model = fallback.meta.service_model
        if model.protocol != "json":
            raise ValueError(f"{model.service_name} does not use an AWS JSON protocol")
        self._fallback = fallback
        self._model = model
        self._service = model.service_name
        self._json_version = model.metadata["jsonVersion"]
        self._query_compatible = "awsQueryCompatible" in model.metadata
        self._credentials = CredentialSource(credentials)
        self._signer = SigV4Signer(fallback.meta.region_name, model.signing_name)
        self._transport = Transport(fallback.meta.endpoint_url, pool, connect_timeout, read_timeout,
                                    os.environ.get("AWS_CA_BUNDLE"))
        self._max_attempts = max(1, max_attempts)
        self._quota = RetryQuota()
        self._sleep = sleep
        self._check_crc32 = self._service == "dynamodb"
        self._non_throttle_scale = 0.025 if self._service == "dynamodb" else 0.05
        self._error_plans: dict[str, OutputPlan] = {}
        self.operations: dict[str, Operation] = {}
        for name in sorted(OPERATIONS.get(self._service, frozenset()) & set(model.operation_names)):
            op_model = model.operation_model(name)
            operation = Operation(name, f"{model.metadata['targetPrefix']}.{name}", output_plan(op_model.output_shape),
                                  idempotency_members(op_model))
            self.operations[xform_name(name)] = operation
            setattr(self, xform_name(name), self._bind(operation))

    def __getattr__(self, name: str) -> Any:   # only reached for what __init__ did not set: the boto3 client's
        if name == "_fallback":                 # not set yet (__init__ failed early): no endless recursion
            raise AttributeError(name)
        return getattr(self._fallback, name)

    @property
    def fallback(self) -> Any:
        return self._fallback

    def close(self) -> None:
        self._transport.close()
        self._fallback.close()

    def _bind(self, operation: Operation) -> Callable[..., dict[str, Any]]:
        def call(**params: Any) -> dict[str, Any]:
            return self._call(operation, params)
        call.__name__ = xform_name(operation.name)
        call.__doc__ = f"{self._service} {operation.name} (AWS JSON protocol, sent by stack.awswire.client)"
        return call

    # --- one call -------------------------------------------------------------------------------------------

    def _call(self, operation: Operation, params: dict[str, Any]) -> dict[str, Any]:
        if operation.idempotency_members:
            params = fill_idempotency_tokens(params, operation.idempotency_members)
        body = encode_body(params)
        payload_sha256 = hashlib.sha256(body).hexdigest()
        attempt = 0
        retried_cost = 0
        while True:
            attempt += 1
            try:
                response = self._transport.post(self._headers(operation, payload_sha256), body)
            except (BotoConnectionError, HTTPClientError) as exc:
                cost = RetryQuota.TIMEOUT_RETRY_COST if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)) \
                    else RetryQuota.RETRY_COST
                if attempt < self._max_attempts and self._quota.acquire(cost):
                    retried_cost = cost
                    self._sleep(self._backoff(attempt, throttled=False))
                    continue
                raise
            if response.status < 300:
                if self._check_crc32 and not self._crc32_ok(response) and attempt < self._max_attempts \
                        and self._quota.acquire(RetryQuota.RETRY_COST):
                    retried_cost = RetryQuota.RETRY_COST
                    self._sleep(self._backoff(attempt, throttled=False))
                    continue
                self._quota.release(retried_cost or RetryQuota.SUCCESS_REFUND)
                parsed = operation.output.apply(response.body, parse_body(response.body))
                parsed["ResponseMetadata"] = self._metadata(response, attempt)
                return parsed
            error = self._error(response, attempt)
            code = error["Error"]["Code"]
            throttled = code in THROTTLING_CODES
            retryable = throttled or code in TRANSIENT_CODES or response.status in TRANSIENT_STATUS
            if retryable and attempt < self._max_attempts and self._quota.acquire(RetryQuota.RETRY_COST):
                retried_cost = RetryQuota.RETRY_COST
                self._sleep(self._backoff(attempt, throttled=throttled))
                continue
            if retryable and attempt >= self._max_attempts > 1:
                error["ResponseMetadata"]["MaxAttemptsReached"] = True
            raise self._exception_class(error["Error"])(error, operation.name)

    def _exception_class(self, error: dict[str, Any]) -> type[Exception]:
        # SQS: botocore picks the exception class by the query error's shape name (handlers.py,
        # _handle_sqs_compatible_error), e.g. QueueDoesNotExist for AWS.SimpleQueueService.NonExistentQueue.
        code = (error.get("QueryErrorCode") if self._service == "sqs" else None) or error["Code"]
        return self._fallback.exceptions.from_code(code)

    def _headers(self, operation: Operation, payload_sha256: str) -> dict[str, str]:
        credentials = self._credentials.get()
        amz_date = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        headers = {"host": self._transport.host_header, "x-amz-date": amz_date, "x-amz-target": operation.target,
                   "content-type": f"application/x-amz-json-{self._json_version}"}
        if self._query_compatible:
            headers["x-amzn-query-mode"] = "true"
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        authorization = self._signer.authorization(credentials, amz_date, "POST", self._transport.path, headers,
                                                   payload_sha256)
        headers["authorization"] = authorization
        headers["user-agent"] = USER_AGENT
        return headers

    def _backoff(self, attempt: int, throttled: bool) -> float:
        """botocore's standard-mode delay before retry number ``attempt`` (1-based)."""
        if NEW_RETRIES_ENABLED:
            scale = 1.0 if throttled else self._non_throttle_scale
            return random.random() * min(scale * 2 ** (attempt - 1), 20)
        return random.random() * min(2 ** (attempt - 1), 20)

    @staticmethod
    def _crc32_ok(response: WireResponse) -> bool:
        expected = response.headers.get("x-amz-crc32")
        return expected is None or not expected.isdigit() or zlib.crc32(response.body) & 0xFFFFFFFF == int(expected)

    @staticmethod
    def _metadata(response: WireResponse, attempt: int) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        request_id = response.headers.get("x-amzn-requestid")
        if request_id is not None:
            metadata["RequestId"] = request_id
        metadata.update(HTTPStatusCode=response.status, HTTPHeaders=response.headers, RetryAttempts=attempt - 1)
        return metadata

    def _error(self, response: WireResponse, attempt: int) -> dict[str, Any]:
        """botocore's JSON error parse (BaseJSONParser._do_error_parse) plus its modeled error members."""
        try:
            body = parse_body(response.body)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        error: dict[str, Any] = {"Message": body.get("message", body.get("Message", "")), "Code": ""}
        code = body.get("__type", str(response.status))
        if ":" in code:
            code = code.split(":", 1)[0]
        if "#" in code:
            code = code.rsplit("#", 1)[1]
        query_error = response.headers.get("x-amzn-query-error")
        if query_error is not None:
            parts = query_error.split(";")
            if len(parts) == 2 and parts[0]:
                error["QueryErrorCode"] = code
                error["Type"] = parts[1]
                code = parts[0]
        error["Code"] = code
        parsed: dict[str, Any] = {"Error": error, "ResponseMetadata": self._metadata(response, attempt)}
        shape = self._model.shape_for_error_code(code)
        if shape is not None:
            modeled = {name: body[member.serialization.get("name", name)] for name, member in shape.members.items()
                       if body.get(member.serialization.get("name", name)) is not None}
            plan = self._error_plans.get(code)
            if plan is None:
                plan = self._error_plans[code] = output_plan(shape)
            parsed.update(plan.apply(response.body, modeled))
        return parsed
