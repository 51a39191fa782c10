"""Work the API does after answering: data exports (GDPR access, ``POST /v1/export-jobs``) and account erasure
(``DELETE /v1/users/me``), plus credential deletion.

An export is a ZIP of JSON files written to the export bucket, downloaded through a presigned URL valid 1 hour
(001 §3d). SyncWell keeps no health data at rest (ephemeral processing), so the archive holds what the user's
partition holds: profile, connections (never tokens), sync configurations and sync jobs.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import time
import zipfile
from typing import Any

import orjson
from botocore.exceptions import ClientError

from stack import schema
from stack.api.aws import error_code
from stack.api.context import ApiContext
from stack.api.errors import DependencyUnavailable
from stack.api.jobs import derived_uuid4
from stack.api.logs import log_fields

log = logging.getLogger("syncwell.api.exports")
DOWNLOAD_URL_TTL_S = 3600
EXPORT_TTL_S = 7 * 86400
STRANDED_EXPORT_S = 300
INTERNAL_ATTRIBUTES = ("PK", "SK", "secretName", "messageBody", "fingerprint", "ttl", "SyncTierShardId")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def export_id_for(user_id: str, idempotency_key: str) -> str:
    return f"export-job-{derived_uuid4('export-job', user_id, idempotency_key)}"


async def accept_export(ctx: ApiContext, user_id: str, idempotency_key: str, now: float) -> tuple[str, str]:
    job_id = export_id_for(user_id, idempotency_key)
    record = {schema.PK: schema.user_pk(user_id), schema.SK: schema.export_sk(job_id), "jobId": job_id,
              "userId": user_id, "status": "PENDING", "createdAt": now, "updatedAt": now, "fingerprint": "export",
              "version": 1, schema.TTL_ATTRIBUTE: int(now) + EXPORT_TTL_S}
    claim = await ctx.store.claim_idempotency_key(user_id, idempotency_key, "export", "export-job", record, 86400)
    stranded = (not claim.created and claim.record.get("status") == "PENDING"
                and now - float(claim.record.get("updatedAt", now)) > STRANDED_EXPORT_S)
    if claim.created or stranded:
        ctx.spawn(build_export(ctx, user_id, job_id))
    return job_id, str(claim.record.get("status", "PENDING"))


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in INTERNAL_ATTRIBUTES}


async def build_export(ctx: ApiContext, user_id: str, job_id: str) -> None:
    try:
        items = await ctx.store.all_user_items(user_id)
        files: dict[str, list[dict[str, Any]]] = {"profile": [], "connections": [], "sync_configs": [],
                                                  "sync_jobs": []}
        for item in items:
            sk = str(item.get("SK", ""))
            folder = ("profile" if sk == "PROFILE" else "connections" if sk.startswith("CONN#")
                      else "sync_configs" if sk.startswith("SYNCCONFIG#") else "sync_jobs" if sk.startswith("JOB#")
                      else None)
            if folder:
                files[folder].append(_public(item))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, entries in files.items():
                archive.writestr(f"{name}.json", dumps(entries))
            archive.writestr("README.txt", "SyncWell data export. Health data is processed ephemerally and not "
                                           "stored, so it does not appear here.\n")
        object_key = f"exports/{user_id}/{job_id}.zip"
        await ctx.aws.call("s3", ctx.aws.s3.put_object, Bucket=ctx.config.export_bucket, Key=object_key,
                           Body=buffer.getvalue(), ContentType="application/zip")
        await ctx.store.mark_export(user_id, job_id, "SUCCEEDED", s3Key=object_key)
        log_fields(log, logging.INFO, "export ready", jobId=job_id, userId=user_id)
    except (DependencyUnavailable, ClientError) as exc:
        log_fields(log, logging.ERROR, "export failed", jobId=job_id, userId=user_id, error=str(exc))
        try:
            await ctx.store.mark_export(user_id, job_id, "FAILED", error=type(exc).__name__)
        except (DependencyUnavailable, ClientError):
            pass        # stays PENDING; a retried POST with the same key restarts it after STRANDED_EXPORT_S


async def export_view(ctx: ApiContext, job: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"jobId": job["jobId"], "status": job.get("status", "PENDING")}
    if view["status"] == "SUCCEEDED" and job.get("s3Key"):
        view["downloadUrl"] = ctx.aws.s3.generate_presigned_url(
            "get_object", Params={"Bucket": ctx.config.export_bucket, "Key": job["s3Key"]},
            ExpiresIn=DOWNLOAD_URL_TTL_S)
        expires = dt.datetime.fromtimestamp(time.time() + DOWNLOAD_URL_TTL_S, dt.timezone.utc)
        view["expiresAt"] = expires.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return view


async def delete_secret(ctx: ApiContext, secret_name: str) -> None:
    try:
        await ctx.aws.call("secretsmanager", ctx.aws.secrets.delete_secret, SecretId=secret_name,
                           ForceDeleteWithoutRecovery=True)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            log_fields(log, logging.ERROR, "credential deletion failed", secret=secret_name, error=error_code(exc))
    except DependencyUnavailable as exc:
        log_fields(log, logging.ERROR, "credential deletion failed", secret=secret_name, error=exc.detail)


async def erase_user(ctx: ApiContext, user_id: str) -> None:
    """Right to erasure: credentials, provider mappings, every item of the partition, stored objects."""
    try:
        items = await ctx.store.all_user_items(user_id)
        keys = []
        for item in items:
            keys.append({schema.PK: {"S": item["PK"]}, schema.SK: {"S": item["SK"]}})
            if str(item["SK"]).startswith("CONN#"):
                await delete_secret(ctx, schema.connection_secret_name(user_id, str(item.get("connectionId"))))
                if item.get("provider") and item.get("providerUserId"):
                    mapping = schema.provider_user_pk(str(item["provider"]), str(item["providerUserId"]))
                    keys.append({schema.PK: {"S": mapping}, schema.SK: {"S": mapping}})
        await ctx.store.batch_delete(keys)
        await ctx.forget_user(user_id)    # again: a read during the erasure may have cached what is now gone
        for prefix in (f"exports/{user_id}/", f"device-uploads/{user_id}/"):
            listing = await ctx.aws.call("s3", ctx.aws.s3.list_objects_v2, Bucket=ctx.config.export_bucket,
                                         Prefix=prefix)
            for obj in listing.get("Contents", []):
                await ctx.aws.call("s3", ctx.aws.s3.delete_object, Bucket=ctx.config.export_bucket, Key=obj["Key"])
        log_fields(log, logging.INFO, "user erased", userId=user_id, items=len(keys))
    except (DependencyUnavailable, ClientError) as exc:
        log_fields(log, logging.ERROR, "user erasure incomplete; repeat DELETE /v1/users/me", userId=user_id,
                   error=str(exc))
