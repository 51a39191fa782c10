"""The authenticated /v1 endpoints (001 §3d). The user is always ``principal.user_id`` from the token."""
from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stack import schema
from stack.api import exports
from stack.api.context import ApiContext
from stack.api.errors import ApiError, bad_request, not_found
from stack.api.jobs import JobSpec, accept_job, job_id_for
from stack.api.logs import log_fields
from stack.api.validation import (EXPORT_ID_PATTERN, JOB_ID_PATTERN, id_field, idempotency_key, json_object,
                                  settings_object, sync_job_request, enum_field)

log = logging.getLogger("syncwell.api")
PROVIDER_DISPLAY = {"strava": "Strava", "fitbit": "Fitbit", "garmin": "Garmin Connect"}
ICON_BASE = "https://static.syncwell.example/icons"
WRITABLE_PROVIDERS = ("strava", "fitbit")        # Garmin is a source only (no write API)
MAX_SETTINGS_BYTES = 16 * 1024
MAX_UPLOAD_BYTES = 1024 * 1024
MAX_UPLOAD_ITEMS = 1000


def ctx_of(request: Request) -> ApiContext:
    return request.app.state.ctx


def connection_view(item: dict[str, Any]) -> dict[str, Any]:
    provider = str(item.get("provider", ""))
    return {"connectionId": item["connectionId"], "provider": provider,
            "displayName": item.get("displayName") or PROVIDER_DISPLAY.get(provider, provider),
            "providerIconUrl": f"{ICON_BASE}/{provider}_icon.png", "status": item.get("status", "active")}


async def list_connections(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    items = await ctx.user_connections(principal.user_id)
    return JSONResponse({"connections": [connection_view(i) for i in items if i.get("status") != "revoked"]})


async def _usable_connections(ctx: ApiContext, user_id: str, *connection_ids: str) -> dict[str, dict[str, Any]]:
    """The user's own connections by id; 404 if one is not theirs, 409 if it needs re-authorization."""
    connections = {c["connectionId"]: c for c in await ctx.user_connections(user_id)}
    for connection_id in connection_ids:
        connection = connections.get(connection_id)
        if connection is None or connection.get("status") == "revoked":
            raise not_found(f"connection {connection_id} not found")
        if connection.get("status") != "active":
            raise ApiError(409, "connection_needs_reauth",
                           f"connection {connection_id} needs re-authorization before it can sync")
    return connections


async def create_sync_job(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    key = idempotency_key(request)
    job = sync_job_request(await json_object(request))
    await _usable_connections(ctx, principal.user_id, job.source_connection_id, job.destination_connection_id)
    accepted = await accept_job(ctx, JobSpec(
        user_id=principal.user_id, idempotency_key=key, source_connection_id=job.source_connection_id,
        destination_connection_id=job.destination_connection_id, data_type=job.data_type, mode=job.mode,
        priority=job.priority, origin="manual", fingerprint=job.fingerprint(), total_chunks=job.total_chunks,
        date_range=job.date_range))
    return JSONResponse({"jobId": accepted.job_id, "status": accepted.status}, status_code=202,
                        headers={} if accepted.created else {"Idempotent-Replayed": "true"})


async def get_sync_job(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    job_id = request.path_params["jobId"]
    # Someone else's job and a job that does not exist look the same: 404 [IDOR].
    job = await ctx.user_job(principal.user_id, job_id) if JOB_ID_PATTERN.match(job_id) else None
    if job is None:
        raise not_found(f"sync job {job_id} not found")
    body: dict[str, Any] = {"jobId": job["jobId"], "status": job.get("status", "QUEUED"),
                            "progress": job.get("progress") or {"totalChunks": 1, "processedChunks": 0,
                                                                "failedChunks": 0}}
    for optional in ("itemsWritten", "error", "createdAt", "updatedAt", "dataType", "mode"):
        if optional in job:
            body[optional] = job[optional]
    return JSONResponse(body)


async def put_settings(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    idempotency_key(request)                     # PUT is naturally idempotent; the key is still required
    settings = settings_object(await json_object(request, MAX_SETTINGS_BYTES))
    merged = await ctx.store.merge_settings(principal.user_id, settings)
    return JSONResponse({"settings": merged})


async def device_upload(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    key = idempotency_key(request)
    body = await json_object(request, MAX_UPLOAD_BYTES)
    data = body.get("data")
    if not isinstance(data, list) or not data or len(data) > MAX_UPLOAD_ITEMS \
            or not all(isinstance(entry, dict) for entry in data):
        raise bad_request(f"'data' must be a list of 1-{MAX_UPLOAD_ITEMS} canonical records (objects)",
                          "invalid_field")
    data_type = enum_field(body, "dataType", schema.DATA_TYPES, default="workout")
    destination = id_field(body, "destinationConnectionId", required=False)
    destination = await _device_destination(ctx, principal.user_id, destination)
    payload_key = f"device-uploads/{principal.user_id}/{job_id_for(principal.user_id, key)}.json"
    payload = exports.dumps({"dataType": data_type, "data": data})

    async def store_payload(_job_id: str) -> None:
        # Only after the key is claimed, so a replay with a different body cannot overwrite the payload.
        await ctx.aws.call("s3", ctx.aws.s3.put_object, Bucket=ctx.config.export_bucket, Key=payload_key,
                           Body=payload, ContentType="application/json")

    accepted = await accept_job(ctx, JobSpec(
        user_id=principal.user_id, idempotency_key=key, source_connection_id="device",
        destination_connection_id=destination, data_type=data_type, mode="manual", priority="high",
        origin="device", fingerprint=exports.digest(payload),
        payload_ref=f"s3://{ctx.config.export_bucket}/{payload_key}"), prepare=store_payload)
    return JSONResponse({"jobId": accepted.job_id, "status": accepted.status}, status_code=202)


async def _device_destination(ctx: ApiContext, user_id: str, requested: str | None) -> str:
    if requested:
        await _usable_connections(ctx, user_id, requested)
        return requested
    for connection in await ctx.user_connections(user_id):
        if connection.get("status") == "active" and connection.get("provider") in WRITABLE_PROVIDERS:
            return str(connection["connectionId"])
    raise ApiError(409, "no_destination", "connect Strava or Fitbit first: there is nowhere to write the upload")


async def delete_connection(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    idempotency_key(request)
    connection_id = request.path_params["connectionId"]
    connection = await ctx.store.get_connection(principal.user_id, connection_id)
    if connection is None:
        raise not_found(f"connection {connection_id} not found")
    await ctx.store.delete_connection(principal.user_id, connection)
    await ctx.forget_connections(principal.user_id)
    if connection.get("provider") and connection.get("providerUserId"):
        # Stop resolving this provider user's webhooks here now, not when the cached mapping expires.
        ctx.provider_users.put(f"{connection['provider']}#{connection['providerUserId']}", None)
    ctx.spawn(exports.delete_secret(ctx, schema.connection_secret_name(principal.user_id, connection_id)))
    log_fields(log, logging.INFO, "connection deleted", userId=principal.user_id, connectionId=connection_id)
    return Response(status_code=204)


async def delete_me(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    idempotency_key(request)
    await ctx.forget_user(principal.user_id)
    ctx.spawn(exports.erase_user(ctx, principal.user_id))
    return JSONResponse({"status": "DELETION_SCHEDULED"}, status_code=202)


async def create_export(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    key = idempotency_key(request)
    job_id, status = await exports.accept_export(ctx, principal.user_id, key, time.time())
    return JSONResponse({"jobId": job_id, "status": status}, status_code=202)


async def get_export(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    job_id = request.path_params["jobId"]
    job = await ctx.store.get_export(principal.user_id, job_id) if EXPORT_ID_PATTERN.match(job_id) else None
    if job is None:
        raise not_found(f"export job {job_id} not found")
    return JSONResponse(await exports.export_view(ctx, job))


ROUTES = [
    Route("/v1/connections", list_connections, methods=["GET"]),
    Route("/v1/connections/{connectionId}", delete_connection, methods=["DELETE"]),
    Route("/v1/sync-jobs", create_sync_job, methods=["POST"]),
    Route("/v1/sync-jobs/{jobId}", get_sync_job, methods=["GET"]),
    Route("/v1/users/me/settings", put_settings, methods=["PUT"]),
    Route("/v1/users/me", delete_me, methods=["DELETE"]),
    Route("/v1/device-upload", device_upload, methods=["POST"]),
    Route("/v1/export-jobs", create_export, methods=["POST"]),
    Route("/v1/export-jobs/{jobId}", get_export, methods=["GET"]),
]
