"""Garmin Health API client (a source only): OAuth 2.0 refresh (rotating), activity summaries by upload window,
activityDetails as the heavy payload. Upload windows are capped at 24 h, so the cursor is an upload-time
watermark advanced window by window (at most ``MAX_WINDOWS`` per job; the next job resumes)."""
from __future__ import annotations

import time
from typing import Any

import httpx

from stack.providers.base import (HttpProvider, ItemMeta, ItemPayload, ProviderError, TokenExpired, TokenRevoked,
                                  Unsupported)
from stack.schema import ProviderAppSecret, ProviderTokens

WINDOW_S = 86400
MAX_WINDOWS = 7
BACKFILL_S = 7 * 86400


class GarminClient(HttpProvider):
    name = "garmin"

    def _classify(self, response: httpx.Response) -> ProviderError:
        if "/oauth/token" in str(response.url) and response.status_code in (400, 401):
            return TokenRevoked("garmin refresh token refused")
        if response.status_code == 403:
            return TokenRevoked("garmin 403: unknown or revoked user token")
        if response.status_code == 401:
            return TokenExpired("garmin 401")
        if response.status_code == 412:
            return TokenRevoked("garmin 412: summary type switched off by the user")
        return super()._classify(response)

    def refresh(self, app: ProviderAppSecret, tokens: ProviderTokens) -> ProviderTokens:
        response = self._request("POST", "/di-oauth2-service/oauth/token", data={
            "grant_type": "refresh_token", "client_id": app["clientId"], "client_secret": app["clientSecret"],
            "refresh_token": tokens["refreshToken"]})
        body = response.json()
        return ProviderTokens(accessToken=body["access_token"], refreshToken=body["refresh_token"],
                              expiresAt=int(time.time()) + int(body.get("expires_in", 86400)),
                              scope=body.get("scope", tokens.get("scope", "")),
                              providerUserId=tokens.get("providerUserId", ""))

    def _windows(self, cursor: int) -> list[tuple[int, int]]:
        now = int(time.time())
        start = max(cursor, now - BACKFILL_S)
        windows = []
        while start < now and len(windows) < MAX_WINDOWS:
            end = min(start + WINDOW_S, now)
            windows.append((start, end))
            start = end
        return windows

    def _pull(self, token: str, summary: str, window: tuple[int, int]) -> list[dict[str, Any]]:
        response = self._request("GET", f"/wellness-api/rest/{summary}", token=token, params={
            "uploadStartTimeInSeconds": window[0], "uploadEndTimeInSeconds": window[1]})
        body = response.json()
        return body if isinstance(body, list) else []

    def list_since(self, token: str, data_type: str, cursor: int, limit: int) -> tuple[list[ItemMeta], int]:
        _require_workout(data_type)
        items: list[ItemMeta] = []
        new_cursor = cursor
        for window in self._windows(cursor):
            items.extend(_meta(row, window) for row in self._pull(token, "activities", window))
            new_cursor = window[1]
            if len(items) >= limit:
                break
        return sorted(items, key=lambda i: i.start), new_cursor

    def has_new_data(self, token: str, data_type: str, cursor: int) -> bool:
        _require_workout(data_type)
        now = int(time.time())
        start = max(cursor, now - WINDOW_S)
        return start < now and bool(self._pull(token, "activities", (start, now)))

    def list_window(self, token: str, data_type: str, start: int, end: int) -> list[ItemMeta]:
        raise Unsupported("garmin has no write API: it cannot be a destination")

    def hydrate(self, token: str, items: list[ItemMeta]) -> list[ItemPayload]:
        by_window: dict[str, list[ItemMeta]] = {}
        for item in items:
            by_window.setdefault(item.locator, []).append(item)
        payloads = []
        for locator, group in by_window.items():  # one pull per upload window, not one per activity
            start, end = (int(x) for x in locator.split("-"))
            details = {str(d.get("summaryId")): d for d in self._pull(token, "activityDetails", (start, end))}
            details.update({str(d.get("activityId")): d for d in details.values()})
            for item in group:
                detail = details.get(item.item_id, {})
                payloads.append(ItemPayload(item, _samples(detail)))
        return payloads

    def write(self, token: str, payload: ItemPayload, external_id: str) -> None:
        raise Unsupported("garmin has no write API: it cannot be a destination")


def _require_workout(data_type: str) -> None:
    if data_type != "workout":
        raise Unsupported(f"garmin client syncs workouts only, not {data_type}")


_KINDS = {"RUNNING": "RUN", "TRAIL_RUNNING": "RUN", "CYCLING": "RIDE", "ROAD_BIKING": "RIDE",
          "MOUNTAIN_BIKING": "RIDE", "WALKING": "WALK", "HIKING": "HIKE", "LAP_SWIMMING": "SWIM",
          "OPEN_WATER_SWIMMING": "SWIM"}


def _meta(row: dict[str, Any], window: tuple[int, int]) -> ItemMeta:
    start = int(row.get("startTimeInSeconds") or 0)
    duration = int(row.get("durationInSeconds") or 0)
    kind = str(row.get("activityType") or "OTHER")
    return ItemMeta(provider="garmin", item_id=str(row.get("summaryId") or row.get("activityId")),
                    data_type="workout", start=start, duration_s=duration, kind=_KINDS.get(kind, kind),
                    updated_at=start + duration, name=str(row.get("activityName") or ""),
                    distance_m=float(row.get("distanceInMeters") or 0.0),
                    utc_offset_s=int(row.get("startTimeOffsetInSeconds") or 0),
                    calories=int(row.get("activeKilocalories") or 0), locator=f"{window[0]}-{window[1]}")


def _samples(detail: dict[str, Any]) -> list[dict[str, Any]]:
    samples = []
    for s in detail.get("samples") or []:
        sample: dict[str, Any] = {"t": int(s.get("startTimeInSeconds") or 0)}
        if s.get("latitudeInDegree") is not None and s.get("longitudeInDegree") is not None:
            sample["lat"], sample["lng"] = s["latitudeInDegree"], s["longitudeInDegree"]
        for key, name in (("elevationInMeters", "alt"), ("heartRate", "hr"), ("totalDistanceInMeters", "dist")):
            if s.get(key) is not None:
                sample[name] = s[key]
        samples.append(sample)
    return samples
