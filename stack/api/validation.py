"""Validation of request inputs: every client mistake becomes a 400 naming the field, never a 500."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Mapping

import orjson
from starlette.requests import Request

from stack import schema
from stack.api.errors import ApiError, bad_request

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CONNECTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
JOB_ID_PATTERN = re.compile(r"^job_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EXPORT_ID_PATTERN = re.compile(r"^export-job-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SETTING_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_SETTINGS_DEPTH = 4
MAX_HISTORICAL_DAYS = 5 * 366
DEFAULT_MAX_BODY = 64 * 1024


def idempotency_key(request: Request) -> str:
    """The Idempotency-Key header every state-changing call must carry [C-004]."""
    value = request.headers.get("idempotency-key")
    if value is None:
        raise bad_request("the Idempotency-Key header is required on state-changing calls",
                          "missing_idempotency_key")
    if not IDEMPOTENCY_KEY_PATTERN.match(value):
        raise bad_request("Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 _ . : - (a UUID is best)",
                          "invalid_idempotency_key")
    return value


async def json_object(request: Request, max_bytes: int = DEFAULT_MAX_BODY) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "payload_too_large", f"the body must be at most {max_bytes} bytes")
    raw = await request.body()
    if len(raw) > max_bytes:
        raise ApiError(413, "payload_too_large", f"the body must be at most {max_bytes} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request("the body must be a JSON object", "invalid_json") from exc
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", "invalid_json")
    return body


def enum_field(body: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        raise bad_request(f"'{name}' is required; one of {', '.join(allowed)}", "invalid_field")
    if not isinstance(value, str) or value not in allowed:
        raise bad_request(f"'{name}' must be one of {', '.join(allowed)}", "invalid_field")
    return value


def id_field(body: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not CONNECTION_ID_PATTERN.match(value):
        raise bad_request(f"'{name}' is required: a connection id from GET /v1/connections", "invalid_field")
    return value


def _date(value: Any, name: str) -> dt.date:
    if not isinstance(value, str):
        raise bad_request(f"'dateRange.{name}' must be a date YYYY-MM-DD", "invalid_field")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(f"'dateRange.{name}' must be a date YYYY-MM-DD", "invalid_field") from exc


@dataclass(frozen=True)
class SyncJobRequest:
    source_connection_id: str
    destination_connection_id: str
    data_type: str
    mode: str
    priority: str
    date_range: dict[str, str] | None

    def fingerprint(self) -> str:
        return orjson.dumps([self.source_connection_id, self.destination_connection_id, self.data_type, self.mode,
                             self.priority, self.date_range], option=orjson.OPT_SORT_KEYS).decode()

    @property
    def total_chunks(self) -> int:
        """Historical syncs run in weekly chunks (a year is 52, as in 001 §3d); a manual sync is one chunk."""
        if not self.date_range:
            return 1
        days = (dt.date.fromisoformat(self.date_range["endDate"])
                - dt.date.fromisoformat(self.date_range["startDate"])).days + 1
        return max(1, -(-days // 7))


def sync_job_request(body: Mapping[str, Any]) -> SyncJobRequest:
    """Parse POST /v1/sync-jobs. A ``userId`` in the body is ignored on purpose [IDOR]."""
    source = id_field(body, "sourceConnectionId")
    destination = id_field(body, "destinationConnectionId")
    data_type = enum_field(body, "dataType", schema.DATA_TYPES)
    mode = enum_field(body, "mode", schema.SYNC_MODES)
    priority = enum_field(body, "priority", schema.PRIORITIES, default="medium")
    raw_range = body.get("dateRange")
    date_range: dict[str, str] | None = None
    if mode == "historical":
        if not isinstance(raw_range, dict):
            raise bad_request("'dateRange' {startDate, endDate} is required when mode is historical", "invalid_field")
        start, end = _date(raw_range.get("startDate"), "startDate"), _date(raw_range.get("endDate"), "endDate")
        if start > end:
            raise bad_request("'dateRange.startDate' must not be after 'dateRange.endDate'", "invalid_field")
        if (end - start).days > MAX_HISTORICAL_DAYS:
            raise bad_request("'dateRange' may span at most 5 years", "invalid_field")
        date_range = {"startDate": start.isoformat(), "endDate": end.isoformat()}
    elif raw_range is not None:
        raise bad_request("'dateRange' is only allowed when mode is historical", "invalid_field")
    if source == destination:
        raise bad_request("'sourceConnectionId' and 'destinationConnectionId' must differ", "invalid_field")
    return SyncJobRequest(source, destination, data_type, mode, priority, date_range)


def settings_object(body: Mapping[str, Any]) -> dict[str, Any]:
    """``{"settings": {...}}``: keys are short identifiers, values JSON up to 4 levels deep."""
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise bad_request("'settings' must be an object of key-value pairs", "invalid_field")
    _check_setting_value(settings, "settings", 0)
    return settings


def _check_setting_value(value: Any, where: str, depth: int) -> None:
    if depth > MAX_SETTINGS_DEPTH:
        raise bad_request(f"'{where}' is nested too deeply (at most {MAX_SETTINGS_DEPTH} levels)", "invalid_field")
    if isinstance(value, dict):
        for key, item in value.items():
            if not SETTING_KEY_PATTERN.match(key):
                raise bad_request(f"'{where}' keys must be 1-64 characters of A-Z a-z 0-9 _ . -", "invalid_field")
            _check_setting_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_setting_value(item, where, depth + 1)
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise bad_request(f"'{where}' holds an invalid string", "invalid_field") from exc
