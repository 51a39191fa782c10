"""Fitbit Web API client: OAuth refresh (single-use refresh tokens), activity list, TCX payloads, activity writes.

Fitbit works in the user's local time; the list's ``startTime`` carries the offset, so we convert to UTC epochs.
"""
from __future__ import annotations

import base64
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from stack.providers.base import (HttpProvider, ItemMeta, ItemPayload, PermanentProviderError, ProviderError,
                                  ProviderThrottled, TokenExpired, TokenRevoked, Unsupported, parse_iso)
from stack.schema import ProviderAppSecret, ProviderTokens

PAGE_SIZE = 100
MAX_PAGES = 10
_KINDS = {90009: "RUN", 90013: "WALK", 90001: "RIDE", 1071: "RIDE", 90024: "SWIM", 90012: "HIKE"}
_TYPE_IDS = {"RUN": 90009, "WALK": 90013, "RIDE": 90001, "SWIM": 90024, "HIKE": 90012}


class FitbitClient(HttpProvider):
    name = "fitbit"

    def _classify(self, response: httpx.Response) -> ProviderError:
        kinds = _error_types(response)
        if response.status_code == 429:
            reset = response.headers.get("Fitbit-Rate-Limit-Reset")
            retry = self._retry_after(response) or (float(reset) if reset and reset.isdigit() else 3600 - time.time() % 3600)
            return ProviderThrottled(self.name, retry)
        if "invalid_grant" in kinds or (response.status_code in (400, 401) and "/oauth2/token" in str(response.url)):
            return TokenRevoked("fitbit refresh token refused")
        if response.status_code == 401:
            return TokenExpired("fitbit " + ",".join(sorted(kinds)))  # expired_token / invalid_token: refresh first
        if response.status_code == 403:
            return TokenRevoked("fitbit 403: not authorised")
        return super()._classify(response)

    def refresh(self, app: ProviderAppSecret, tokens: ProviderTokens) -> ProviderTokens:
        basic = base64.b64encode(f"{app['clientId']}:{app['clientSecret']}".encode()).decode()
        response = self._request("POST", "/oauth2/token", headers={"Authorization": f"Basic {basic}"},
                                 data={"grant_type": "refresh_token", "refresh_token": tokens["refreshToken"]})
        body = response.json()
        return ProviderTokens(accessToken=body["access_token"], refreshToken=body["refresh_token"],
                              expiresAt=int(time.time()) + int(body.get("expires_in", 28800)),
                              scope=body.get("scope", tokens.get("scope", "")),
                              providerUserId=body.get("user_id") or tokens.get("providerUserId", ""))

    def list_since(self, token: str, data_type: str, cursor: int, limit: int) -> tuple[list[ItemMeta], int]:
        _require_workout(data_type)
        items = [i for i in self._list_after(token, cursor - 86400, limit, stop_after=None) if i.start > cursor]
        items = sorted(items, key=lambda i: i.start)[:limit]
        return items, max([cursor] + [i.start for i in items])

    def has_new_data(self, token: str, data_type: str, cursor: int) -> bool:
        _require_workout(data_type)
        # afterDate has day resolution in local time: look one day back and filter on the exact start.
        return any(i.start > cursor for i in self._list_after(token, cursor - 86400, PAGE_SIZE, stop_after=None))

    def list_window(self, token: str, data_type: str, start: int, end: int) -> list[ItemMeta]:
        _require_workout(data_type)
        return [i for i in self._list_after(token, start - 86400, PAGE_SIZE * MAX_PAGES, stop_after=end + 86400)
                if start - 60 <= i.start <= end + 60]

    def _list_after(self, token: str, after: int, limit: int, stop_after: int | None) -> list[ItemMeta]:
        after_date = datetime.fromtimestamp(max(after, 0), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        path = "/1/user/-/activities/list.json"
        params: dict[str, Any] | None = {"afterDate": after_date, "sort": "asc", "limit": PAGE_SIZE, "offset": 0}
        items: list[ItemMeta] = []
        for _ in range(MAX_PAGES):
            body = self._request("GET", path, token=token, params=params).json()
            rows = body.get("activities") or []
            items.extend(_meta(row) for row in rows)
            next_url = (body.get("pagination") or {}).get("next") or ""
            if not rows or not next_url or len(items) >= limit:
                break
            if stop_after is not None and items[-1].start > stop_after:
                break
            split = urlsplit(next_url)  # follow pagination.next on OUR base URL (the fake's host may differ)
            path, params = split.path, dict(p.split("=", 1) for p in split.query.split("&") if "=" in p)
        return items

    def hydrate(self, token: str, items: list[ItemMeta]) -> list[ItemPayload]:
        payloads = []
        for item in items:
            response = self._request("GET", f"/1/user/-/activities/{item.item_id}.tcx", token=token)
            payloads.append(ItemPayload(item, _tcx_samples(response.content)))
        return payloads

    def write(self, token: str, payload: ItemPayload, external_id: str) -> None:
        meta = payload.meta
        local = datetime.fromtimestamp(meta.start, tz=timezone.utc) + timedelta(seconds=meta.utc_offset_s)
        form = {"activityId": _TYPE_IDS.get(meta.kind, 90009), "startTime": local.strftime("%H:%M"),
                "durationMillis": meta.duration_s * 1000, "date": local.strftime("%Y-%m-%d"),
                "distance": f"{meta.distance_m / 1000.0:.3f}", "distanceUnit": "Kilometer",
                "manualCalories": meta.calories, "externalId": external_id}
        if meta.kind not in _TYPE_IDS:
            form.pop("activityId")
            form["activityName"] = meta.name or meta.kind.title()
        self._request("POST", "/1/user/-/activities.json", token=token, data=form)


def _require_workout(data_type: str) -> None:
    if data_type != "workout":
        raise Unsupported(f"fitbit client syncs workouts only, not {data_type}")


def _error_types(response: httpx.Response) -> set[str]:
    try:
        return {str(e.get("errorType")) for e in response.json().get("errors", [])}
    except (ValueError, AttributeError):
        return set()


def _meta(row: dict[str, Any]) -> ItemMeta:
    start_text = str(row.get("startTime") or row.get("originalStartTime"))
    local = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
    start = int(local.timestamp())
    offset = int(local.utcoffset().total_seconds()) if local.utcoffset() else 0
    duration = int(row.get("duration") or row.get("activeDuration") or 0) // 1000
    modified = row.get("lastModified")
    type_id = int(row.get("activityTypeId") or 0)
    name = str(row.get("activityName") or "")
    return ItemMeta(provider="fitbit", item_id=str(row["logId"]), data_type="workout", start=start,
                    duration_s=duration, kind=_KINDS.get(type_id, name.upper() or "WORKOUT"),
                    updated_at=parse_iso(modified) if modified else start + duration, name=name,
                    distance_m=float(row.get("distance") or 0.0) * 1000.0, utc_offset_s=offset,
                    external_id=row.get("externalId"), calories=int(row.get("calories") or 0))


def _tcx_samples(content: bytes) -> list[dict[str, Any]]:
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise PermanentProviderError("fitbit tcx: not XML") from exc
    samples = []
    for point in (el for el in root.iter() if el.tag.endswith("Trackpoint")):
        fields = {child.tag.split("}")[-1]: child for child in point.iter()}
        if "Time" not in fields:
            continue
        sample: dict[str, Any] = {"t": parse_iso(fields["Time"].text or "")}
        if "LatitudeDegrees" in fields and "LongitudeDegrees" in fields:
            sample["lat"] = float(fields["LatitudeDegrees"].text or 0)
            sample["lng"] = float(fields["LongitudeDegrees"].text or 0)
        if "AltitudeMeters" in fields:
            sample["alt"] = float(fields["AltitudeMeters"].text or 0)
        if "DistanceMeters" in fields:
            sample["dist"] = float(fields["DistanceMeters"].text or 0)
        heart = point.find(".//{*}HeartRateBpm/{*}Value")
        if heart is not None and heart.text:
            sample["hr"] = int(float(heart.text))
        samples.append(sample)
    return samples
