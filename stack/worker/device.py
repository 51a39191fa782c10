"""Device-to-Cloud sync (001 "Model 2"): the items of a ``POST /v1/device-upload`` job, read back from S3.

The API stores the upload (``{"dataType", "data": [CanonicalWorkout...]}``) at the job's ``payloadRef``
(``s3://bucket/key``) before it enqueues the job; the worker treats that document as the job's source: the
items are already hydrated, so only the destination is listed (conflicts, our own earlier writes) and written.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Mapping

from stack.providers import ItemMeta, ItemPayload

DEVICE_PROVIDER = "device"


class DeviceUploadMissing(Exception):
    """The job's upload document is gone or unreadable: permanent (a retry cannot bring it back)."""


def parse_payload_ref(ref: str) -> tuple[str, str]:
    if not ref.startswith("s3://") or "/" not in ref[5:]:
        raise DeviceUploadMissing(f"payloadRef {ref!r} is not s3://bucket/key")
    bucket, _, key = ref[5:].partition("/")
    return bucket, key


class DeviceUploads:
    """Reads a device-upload job's items from S3 (one GetObject per job attempt)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def load(self, job: Mapping[str, Any]) -> list[ItemPayload]:
        ref = job.get("payloadRef")
        if not ref:
            raise DeviceUploadMissing("device job without payloadRef")
        bucket, key = parse_payload_ref(str(ref))
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey as exc:
            raise DeviceUploadMissing(f"upload {ref} not found") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise DeviceUploadMissing(f"upload {ref} is not JSON") from exc
        data_type = str(document.get("dataType") or job.get("dataType") or "workout")
        return [to_item(record, data_type) for record in document.get("data") or () if isinstance(record, dict)]


def to_item(record: Mapping[str, Any], data_type: str) -> ItemPayload:
    """One CanonicalWorkout as the engine's item: metadata plus its samples (heart rate per second when given)."""
    start = _epoch(record.get("startTime"))
    duration = int(record.get("durationSeconds") or record.get("duration_s") or 0)
    item_id = str(record.get("sourceId") or _digest(record))
    meta = ItemMeta(provider=DEVICE_PROVIDER, item_id=item_id, data_type=data_type, start=start, duration_s=duration,
                    kind=str(record.get("activityType") or "WORKOUT").upper(), updated_at=start + duration,
                    name=str(record.get("title") or record.get("activityType") or "Device workout"),
                    distance_m=float(record.get("distanceMeters") or 0.0))
    heart_rates = record.get("heartRateSamples") or []
    samples = [{"t": start + i, "hr": hr} for i, hr in enumerate(heart_rates) if isinstance(hr, (int, float))]
    return ItemPayload(meta=meta, samples=samples)


def _epoch(value: Any) -> int:
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return 0
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())
    return 0


def _digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:24]
