"""Provider webhooks -> CoalescingBufferQueue.fifo (001 §3 Model 4).

Each notification is resolved from the provider's user id to the SyncWell user (``PROVIDERUSER#`` item) and
sent as a ``WebhookMessage`` with MessageGroupId = userId and a MessageDeduplicationId derived from the event's
identity, so duplicate deliveries within SQS's 5-minute window are dropped by SQS itself.

- Strava: ``GET /webhooks/strava`` subscription validation (hub.challenge echo when hub.verify_token matches);
  ``POST`` events (unsigned; acknowledged 200 within Strava's 2 s).
- Fitbit: ``GET /webhooks/fitbit?verify=CODE`` -> 204 right code / 404 wrong; ``POST`` notifications verified
  with ``X-Fitbit-Signature`` = base64(HMAC-SHA1(client_secret + "&", raw body)); a mismatch is 404 and
  nothing is enqueued.
- Garmin: ``POST /webhooks/garmin`` ping/push envelopes ``{"<summaryType>": [{userId, ...}]}`` (unsigned).
Unknown provider users are acknowledged (the provider must not retry forever) and logged, not enqueued.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stack import schema
from stack.api.context import ApiContext
from stack.api.errors import ApiError, bad_request, not_found
from stack.api.logs import correlation_id_var, log_fields

log = logging.getLogger("syncwell.api.webhooks")
MAX_WEBHOOK_BYTES = 1024 * 1024
FITBIT_DEDUPE_BUCKET_S = 60          # Fitbit events carry no time: a change 60 s later is a new event
GARMIN_HEAVY_FIELDS = ("samples", "laps")
GARMIN_LIFECYCLE = ("deregistrations", "userPermissionsChange")


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    provider_user_id: str
    event: dict[str, Any]
    dedupe_identity: str


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (compare_digest on str does not)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _dedupe_id(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


async def _read_body(request: Request) -> bytes:
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "payload_too_large", "webhook body too large")
    return raw


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request("the body must be JSON", "invalid_json") from exc


async def enqueue_events(ctx: ApiContext, events: list[ProviderEvent]) -> int:
    """Resolve users and send the events (SendMessageBatch, 10 at a time). Returns how many were enqueued."""
    correlation_id = correlation_id_var.get() or uuid.uuid4().hex
    now = time.time()
    entries = []
    for index, event in enumerate(events):
        user_id = await ctx.user_for_provider_user(event.provider, event.provider_user_id)
        if user_id is None:
            log_fields(log, logging.WARNING, "webhook for an unknown provider user ignored",
                       provider=event.provider, providerUserId=event.provider_user_id)
            continue
        message = schema.WebhookMessage(provider=event.provider, providerUserId=event.provider_user_id,
                                        userId=user_id, event=event.event, receivedAt=now,
                                        correlationId=correlation_id)
        entries.append({"Id": str(index), "MessageBody": orjson.dumps(message).decode(), "MessageGroupId": user_id,
                        "MessageDeduplicationId": _dedupe_id(event.dedupe_identity),
                        "MessageAttributes": {"correlationId": {"DataType": "String",
                                                                "StringValue": correlation_id}}})
    if not entries:
        return 0
    queue_url = await ctx.queues.url(ctx.config.coalescing_queue)
    for start in range(0, len(entries), 10):
        batch = entries[start:start + 10]
        response = await ctx.aws.call("sqs", ctx.aws.sqs.send_message_batch, QueueUrl=queue_url, Entries=batch)
        if response.get("Failed"):
            # The provider will redeliver on a non-2xx answer; dedupe ids make the redelivery safe.
            raise ApiError(503, "enqueue_failed", "could not enqueue every event; retry the delivery",
                           {"Retry-After": "1"})
    return len(entries)


# -- Strava ----------------------------------------------------------------------------------------------
async def strava_validate(request: Request) -> Response:
    ctx: ApiContext = request.app.state.ctx
    params = request.query_params
    secret = await ctx.provider_secret("strava") or {}
    expected = str(secret.get("webhookVerifyToken", ""))
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not expected or not _same(token, expected):
        raise ApiError(403, "forbidden", "subscription validation failed")
    return JSONResponse({"hub.challenge": params.get("hub.challenge", "")})


async def strava_event(request: Request) -> Response:
    ctx: ApiContext = request.app.state.ctx
    event = _parse_json(await _read_body(request))
    if not isinstance(event, dict) or "owner_id" not in event or "object_type" not in event:
        raise bad_request("a Strava event needs object_type and owner_id", "invalid_event")
    identity = "strava:" + ":".join(str(event.get(k, "")) for k in
                                    ("subscription_id", "owner_id", "object_type", "object_id", "aspect_type",
                                     "event_time"))
    await enqueue_events(ctx, [ProviderEvent("strava", str(event["owner_id"]), event, identity)])
    return JSONResponse({"status": "ok"})


# -- Fitbit ----------------------------------------------------------------------------------------------
async def fitbit_verify(request: Request) -> Response:
    ctx: ApiContext = request.app.state.ctx
    secret = await ctx.provider_secret("fitbit") or {}
    expected = str(secret.get("subscriberVerificationCode", ""))
    code = request.query_params.get("verify", "")
    if expected and _same(code, expected):
        return Response(status_code=204)
    raise not_found("unknown verification code")


def fitbit_signature(client_secret: str, raw_body: bytes) -> str:
    return base64.b64encode(hmac.new(f"{client_secret}&".encode(), raw_body, hashlib.sha1).digest()).decode()


async def fitbit_notifications(request: Request) -> Response:
    ctx: ApiContext = request.app.state.ctx
    raw = await _read_body(request)
    secret = await ctx.provider_secret("fitbit") or {}
    client_secret = str(secret.get("clientSecret", ""))
    signature = request.headers.get("x-fitbit-signature", "")
    if not client_secret or not _same(signature, fitbit_signature(client_secret, raw)):
        log_fields(log, logging.WARNING, "fitbit notification with a bad signature rejected")
        raise not_found("not found")
    notifications = _parse_json(raw)
    if not isinstance(notifications, list) or not all(isinstance(n, dict) and "ownerId" in n for n in notifications):
        raise bad_request("Fitbit notifications are a JSON array of {collectionType, date, ownerId, ...}",
                          "invalid_event")
    bucket = int(time.time() // FITBIT_DEDUPE_BUCKET_S)
    events = [ProviderEvent("fitbit", str(n["ownerId"]), n,
                            f"fitbit:{n.get('subscriptionId')}:{n['ownerId']}:{n.get('collectionType')}:"
                            f"{n.get('date')}:{bucket}") for n in notifications]
    await enqueue_events(ctx, events)
    return Response(status_code=204)


# -- Garmin ----------------------------------------------------------------------------------------------
def _garmin_identity(summary_type: str, entry: dict[str, Any]) -> str:
    marker = entry.get("summaryId") or entry.get("callbackURL") or orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    return f"garmin:{summary_type}:{entry.get('userId')}:{marker!s}"


async def garmin_notifications(request: Request) -> Response:
    ctx: ApiContext = request.app.state.ctx
    envelope = _parse_json(await _read_body(request))
    if not isinstance(envelope, dict):
        raise bad_request("a Garmin notification is an object {summaryType: [...]}", "invalid_event")
    events = []
    for summary_type, entries in envelope.items():
        if not isinstance(entries, list):
            raise bad_request(f"'{summary_type}' must be a list", "invalid_event")
        for entry in entries:
            if not isinstance(entry, dict) or "userId" not in entry:
                raise bad_request(f"every '{summary_type}' entry needs a userId", "invalid_event")
            # Push payloads can carry per-second samples: the worker re-fetches heavy data, the queue must not.
            light = {k: v for k, v in entry.items() if k not in GARMIN_HEAVY_FIELDS}
            events.append(ProviderEvent("garmin", str(entry["userId"]), {"summaryType": summary_type, **light},
                                        _garmin_identity(summary_type, entry)))
    await enqueue_events(ctx, events)
    return JSONResponse({"status": "ok"})


ROUTES = [
    Route("/webhooks/strava", strava_validate, methods=["GET"]),
    Route("/webhooks/strava", strava_event, methods=["POST"]),
    Route("/webhooks/fitbit", fitbit_verify, methods=["GET"]),
    Route("/webhooks/fitbit", fitbit_notifications, methods=["POST"]),
    Route("/webhooks/garmin", garmin_notifications, methods=["POST"]),
]
