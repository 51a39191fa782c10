"""TCX rendering of a hydrated workout (what we upload to Strava). Deterministic: the same item gives the same
bytes. The first and last ``<Time>`` are the item's start and end, so the destination derives the same start
time and duration as the source (which is what conflict resolution matches on)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape

from stack.providers.base import ItemPayload

_SPORTS = {"RUN": "Running", "RIDE": "Biking"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trackpoint(sample: dict[str, Any]) -> str:
    parts = [f"<Time>{_iso(sample['t'])}</Time>"]
    if "lat" in sample and "lng" in sample:
        parts.append(f"<Position><LatitudeDegrees>{sample['lat']}</LatitudeDegrees>"
                     f"<LongitudeDegrees>{sample['lng']}</LongitudeDegrees></Position>")
    if "alt" in sample:
        parts.append(f"<AltitudeMeters>{sample['alt']}</AltitudeMeters>")
    if "dist" in sample:
        parts.append(f"<DistanceMeters>{sample['dist']}</DistanceMeters>")
    if "hr" in sample:
        parts.append(f"<HeartRateBpm><Value>{int(sample['hr'])}</Value></HeartRateBpm>")
    return "<Trackpoint>" + "".join(parts) + "</Trackpoint>"


def to_tcx(payload: ItemPayload, external_id: str) -> bytes:
    meta = payload.meta
    end = meta.start + max(1, meta.duration_s)
    inner = [s for s in payload.samples if meta.start < s.get("t", 0) < end]
    points = [{"t": meta.start}] + inner + [{"t": end}]
    sport = _SPORTS.get(meta.kind, "Other")
    text = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">'
            f'<Activities><Activity Sport="{sport}"><Notes>{escape(external_id)}</Notes>'
            f'<Lap StartTime="{_iso(meta.start)}"><TotalTimeSeconds>{meta.duration_s}</TotalTimeSeconds>'
            f"<DistanceMeters>{meta.distance_m:.1f}</DistanceMeters><Track>"
            + "".join(_trackpoint(p) for p in points) + "</Track></Lap></Activity></Activities>"
            "</TrainingCenterDatabase>")
    return text.encode()
