"""The arrival schedule on disk and on the wire: fixed-size binary records, streamable, kinds interned.

Any iterable of objects with ``at_s``, ``kind``, ``user_index`` and ``payload_bytes`` (sim.schedule's events,
or :class:`ScheduledEvent`) can be written; the load processes read it back lazily, so a schedule of millions
of events never has to sit in memory. Layout: MAGIC, records (``<dIIH``: at_s, user_index, payload_bytes,
kind id), footer JSON ``{"kinds": [...], "count": N, "span_s": S}``, footer length (u32), MAGIC.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

MAGIC = b"SWEV1\n"
RECORD = struct.Struct("<dIIH")
FOOTER_LEN = struct.Struct("<I")
MAX_KINDS = 65535


class EventLike(Protocol):
    at_s: float
    kind: str
    user_index: int
    payload_bytes: int


@dataclass(slots=True)
class ScheduledEvent:
    """What a request builder receives: one scheduled arrival. Treat as immutable (not frozen: one is built
    per request, and frozen dataclasses cost several times more to construct)."""

    at_s: float
    kind: str
    user_index: int
    payload_bytes: int


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    count: int
    span_s: float
    kinds: tuple[str, ...]


class ScheduleError(ValueError):
    """The schedule is malformed (unsorted, negative time, unreadable file)."""


def write_schedule(path: Path, events: Iterable[Any]) -> ScheduleInfo:
    """Stream ``events`` (sorted by ``at_s``; a list is sorted for you) into ``path``."""
    if isinstance(events, (list, tuple)):
        events = sorted(events, key=lambda e: e.at_s)
    kinds: dict[str, int] = {}
    count = 0
    last = 0.0
    with open(path, "wb") as out:
        out.write(MAGIC)
        for event in events:
            try:
                at_s, kind = float(event.at_s), str(event.kind)
                user_index, payload = int(event.user_index), int(event.payload_bytes)
            except (AttributeError, TypeError, ValueError) as exc:
                raise ScheduleError(f"event #{count} is not an arrival event: {event!r}") from exc
            if at_s < last or at_s < 0:
                raise ScheduleError(f"event #{count} at {at_s}s is before the previous one ({last}s): "
                                    "a schedule must be sorted by at_s and start at >= 0")
            kind_id = kinds.setdefault(kind, len(kinds))
            if kind_id >= MAX_KINDS:
                raise ScheduleError(f"more than {MAX_KINDS} event kinds")
            out.write(RECORD.pack(at_s, user_index, payload, kind_id))
            last = at_s
            count += 1
        footer = json.dumps({"kinds": list(kinds), "count": count, "span_s": last}).encode()
        out.write(footer + FOOTER_LEN.pack(len(footer)) + MAGIC)
    return ScheduleInfo(count, last, tuple(kinds))


def read_info(path: Path) -> ScheduleInfo:
    try:
        with open(path, "rb") as source:
            if source.read(len(MAGIC)) != MAGIC:
                raise ScheduleError(f"{path} is not a schedule file")
            source.seek(-(FOOTER_LEN.size + len(MAGIC)), 2)
            (footer_len,) = FOOTER_LEN.unpack(source.read(FOOTER_LEN.size))
            source.seek(-(FOOTER_LEN.size + len(MAGIC) + footer_len), 2)
            footer = json.loads(source.read(footer_len))
    except (OSError, struct.error, json.JSONDecodeError) as exc:
        raise ScheduleError(f"cannot read schedule {path}: {exc}") from exc
    return ScheduleInfo(int(footer["count"]), float(footer["span_s"]), tuple(footer["kinds"]))


def iter_record_chunks(path: Path, records_per_chunk: int = 2048) -> Iterator[bytes]:
    """Raw record bytes in order, ``records_per_chunk`` at a time (what the master ships to workers)."""
    info = read_info(path)
    remaining = info.count
    with open(path, "rb") as source:
        source.seek(len(MAGIC))
        while remaining:
            n = min(records_per_chunk, remaining)
            yield source.read(n * RECORD.size)
            remaining -= n


def decode_records(chunk: bytes) -> Iterator[tuple[float, int, int, int]]:
    """(at_s, user_index, payload_bytes, kind_id) per record."""
    return RECORD.iter_unpack(chunk)


def encode_record(at_s: float, user_index: int, payload_bytes: int, kind_id: int) -> bytes:
    return RECORD.pack(at_s, user_index, payload_bytes, kind_id)


def iter_events(path: Path) -> Iterator[ScheduledEvent]:
    kinds = read_info(path).kinds
    for chunk in iter_record_chunks(path):
        for at_s, user_index, payload, kind_id in decode_records(chunk):
            yield ScheduledEvent(at_s, kinds[kind_id], user_index, payload)


