"""Beta telemetry files (JSONL or CSV, see FORMAT.md): one event per line, read into columnar numpy arrays.

Reading validates every row; a bad row raises ``UsageError`` naming its line number, or with ``skip_bad`` is
counted and its first few errors kept for the report.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

import numpy as np

from sim.errors import UsageError

KINDS: tuple[str, ...] = ("session_start", "api_call", "sync_requested", "sync_finished")
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "dlq")
TRIGGERS: tuple[str, ...] = ("manual", "webhook", "scheduled", "device_upload")
COLUMNS: tuple[str, ...] = (
    "ts", "user", "kind", "session", "endpoint", "sync_id", "trigger", "outcome", "payload_bytes", "db_reads",
    "db_writes",
)
MAX_KEPT_ERRORS = 20
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps(separators=...) builds one per call


class BadRow(ValueError):
    """One row is malformed; the message says why (the reader adds the line number)."""


@dataclass(frozen=True)
class TelemetryEvent:
    """One telemetry row, as written by the synthetic generator (optional fields are None)."""

    ts: float                      # Unix epoch seconds, UTC
    user: str
    kind: str
    session: str | None = None
    endpoint: str | None = None
    sync_id: str | None = None
    trigger: str | None = None
    outcome: str | None = None
    payload_bytes: int | None = None
    db_reads: int | None = None
    db_writes: int | None = None


@dataclass
class Telemetry:
    """Columnar telemetry: one entry per event, users as integer codes into ``user_ids``."""

    ts: np.ndarray
    user: np.ndarray
    kind: np.ndarray
    outcome: np.ndarray           # index into OUTCOMES, -1 when not a sync_finished row
    payload_bytes: np.ndarray     # -1 when absent
    db_reads: np.ndarray
    db_writes: np.ndarray
    user_ids: list[str]
    rows_read: int
    skipped_rows: int = 0
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)


def parse_timestamp(value: Any) -> float:
    if isinstance(value, bool):
        raise BadRow(f"ts must be ISO-8601 or epoch seconds, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        raise BadRow("ts is empty")
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRow(f"ts {text!r} is neither ISO-8601 nor epoch seconds") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def format_timestamp(epoch_s: float) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-01-05T07:32:56.689Z."""
    whole = math.floor(epoch_s)
    millis = min(999, int(round((epoch_s - whole) * 1000)))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _optional_int(row: Mapping[str, Any], name: str, required: bool) -> int:
    value = row.get(name)
    if value is None or value == "":
        if required:
            raise BadRow(f"{name} is required for kind {row.get('kind')!r}")
        return -1
    if isinstance(value, bool):
        raise BadRow(f"{name} must be a non-negative integer, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise BadRow(f"{name} must be a non-negative integer, got {value!r}") from exc
    if number < 0 or number != int(number):
        raise BadRow(f"{name} must be a non-negative integer, got {value!r}")
    return int(number)


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    return value.strip() if type(value) is str else str(value).strip()


def parse_row(row: Mapping[str, Any]) -> tuple[float, str, int, int, int, int, int]:
    """Validate one row: (ts, user, kind code, outcome code, payload bytes, db reads, db writes)."""
    if type(row) is not dict and not isinstance(row, Mapping):  # the dict check skips a slow ABC lookup
        raise BadRow("expected a JSON object")
    if "ts" not in row or row["ts"] is None:
        raise BadRow("ts is required")
    ts = parse_timestamp(row["ts"])
    user = _text(row, "user")
    if not user:
        raise BadRow("user is required")
    kind = _text(row, "kind")
    if kind not in KIND_CODE:
        raise BadRow(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "api_call" and not _text(row, "endpoint"):
        raise BadRow("endpoint is required for kind 'api_call'")
    trigger = _text(row, "trigger")
    if trigger and trigger not in TRIGGERS:
        raise BadRow(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    outcome_code = -1
    payload = reads = writes = -1
    if kind == "sync_finished":
        outcome = _text(row, "outcome")
        if outcome not in OUTCOMES:
            raise BadRow(f"outcome must be one of {', '.join(OUTCOMES)} for sync_finished, got {outcome!r}")
        outcome_code = OUTCOMES.index(outcome)
        payload = _optional_int(row, "payload_bytes", required=True)
        reads = _optional_int(row, "db_reads", required=True)
        writes = _optional_int(row, "db_writes", required=True)
    else:
        payload = _optional_int(row, "payload_bytes", required=False)
    return ts, user, KIND_CODE[kind], outcome_code, payload, reads, writes


def telemetry_from_events(events: Iterable[TelemetryEvent]) -> Telemetry:
    """Columnar telemetry straight from events (no file), validated like file rows."""
    columns: list[tuple[float, str, int, int, int, int, int]] = []
    for number, event in enumerate(events, start=1):
        row = {name: getattr(event, name) for name in COLUMNS}
        try:
            columns.append(parse_row(row))
        except BadRow as exc:
            raise UsageError(f"event {number}: {exc}") from exc
    if not columns:
        raise UsageError("no telemetry events")
    user_codes: dict[str, int] = {}
    users = [user_codes.setdefault(row[1], len(user_codes)) for row in columns]
    return Telemetry(
        ts=np.array([row[0] for row in columns], dtype=float),
        user=np.array(users, dtype=np.int64),
        kind=np.array([row[2] for row in columns], dtype=np.int8),
        outcome=np.array([row[3] for row in columns], dtype=np.int8),
        payload_bytes=np.array([row[4] for row in columns], dtype=np.int64),
        db_reads=np.array([row[5] for row in columns], dtype=np.int64),
        db_writes=np.array([row[6] for row in columns], dtype=np.int64),
        user_ids=list(user_codes),
        rows_read=len(columns),
    )


def detect_format(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise UsageError(f"{path}: cannot tell the format from the extension; use .jsonl or .csv, or --format")


def _jsonl_rows(handle: IO[str]) -> Iterator[tuple[int, Mapping[str, Any] | None, str | None]]:
    for line_no, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield line_no, None, f"not valid JSON ({exc.msg})"


def _csv_rows(handle: IO[str]) -> Iterator[tuple[int, Mapping[str, Any] | None, str | None]]:
    reader = csv.DictReader(handle)
    missing = [name for name in ("ts", "user", "kind") if name not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(f"CSV header (line 1) lacks column(s): {', '.join(missing)}")
    for row in reader:
        if None in row:  # more cells than header columns
            yield reader.line_num, None, f"{len(row) - 1 + len(row[None])} cells for {len(row) - 1} header columns"
            continue
        yield reader.line_num, row, None


def read_telemetry(path: Path, fmt: str | None = None, skip_bad: bool = False) -> Telemetry:
    """Read and validate a telemetry file. Bad rows: ``UsageError`` with the line number, or counted when
    ``skip_bad``. An empty result is a usage error either way."""
    fmt = detect_format(path, fmt)
    ts: list[float] = []
    users: list[int] = []
    kinds: list[int] = []
    outcomes: list[int] = []
    payloads: list[int] = []
    reads: list[int] = []
    writes: list[int] = []
    user_codes: dict[str, int] = {}
    skipped, errors, rows_read = 0, [], 0
    try:
        with path.open("r", encoding="utf-8", newline="") as handle:
            rows = _jsonl_rows(handle) if fmt == "jsonl" else _csv_rows(handle)
            for line_no, row, problem in rows:
                rows_read += 1
                try:
                    if problem:
                        raise BadRow(problem)
                    assert row is not None
                    t, user, kind, outcome, payload, r, w = parse_row(row)
                except BadRow as exc:
                    message = f"{path.name} line {line_no}: {exc}"
                    if not skip_bad:
                        raise UsageError(f"{message} (use --skip-bad to skip bad rows)") from exc
                    skipped += 1
                    if len(errors) < MAX_KEPT_ERRORS:
                        errors.append(message)
                    continue
                ts.append(t)
                users.append(user_codes.setdefault(user, len(user_codes)))
                kinds.append(kind)
                outcomes.append(outcome)
                payloads.append(payload)
                reads.append(r)
                writes.append(w)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc
    if not ts:
        raise UsageError(f"{path}: no valid telemetry rows ({skipped} bad rows)")
    return Telemetry(
        ts=np.asarray(ts, dtype=float),
        user=np.asarray(users, dtype=np.int64),
        kind=np.asarray(kinds, dtype=np.int8),
        outcome=np.asarray(outcomes, dtype=np.int8),
        payload_bytes=np.asarray(payloads, dtype=np.int64),
        db_reads=np.asarray(reads, dtype=np.int64),
        db_writes=np.asarray(writes, dtype=np.int64),
        user_ids=list(user_codes),
        rows_read=rows_read,
        skipped_rows=skipped,
        errors=errors,
    )


def _row_dict(event: TelemetryEvent) -> dict[str, Any]:
    row: dict[str, Any] = {"ts": format_timestamp(event.ts), "user": event.user, "kind": event.kind}
    optional = (
        ("session", event.session), ("endpoint", event.endpoint), ("sync_id", event.sync_id),
        ("trigger", event.trigger), ("outcome", event.outcome), ("payload_bytes", event.payload_bytes),
        ("db_reads", event.db_reads), ("db_writes", event.db_writes),
    )
    row.update((name, value) for name, value in optional if value is not None)
    return row


def write_telemetry(events: Iterable[TelemetryEvent], path: Path, fmt: str | None = None) -> int:
    """Write events as JSONL or CSV (from the extension unless ``fmt``); returns the number of rows."""
    fmt = detect_format(path, fmt)
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            if fmt == "jsonl":
                for event in events:
                    handle.write(_COMPACT_JSON.encode(_row_dict(event)) + "\n")
                    count += 1
            else:
                writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
                writer.writeheader()
                for event in events:
                    writer.writerow(_row_dict(event))
                    count += 1
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    return count
