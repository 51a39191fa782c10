"""Strava API v3 client: OAuth refresh (rotating), activities since a cursor, streams, uploads."""
from __future__ import annotations

import time
from typing import Any

import httpx

from stack.providers.base import (HttpProvider, ItemMeta, ItemPayload, PermanentProviderError, ProviderError,
                                  ProviderThrottled, TokenExpired, TokenRevoked, Unsupported, parse_iso)
from stack.providers.tcx import to_tcx
from stack.schema import ProviderAppSecret, ProviderTokens

PAGE_SIZE = 200
MAX_PAGES = 5
STREAM_KEYS = "time,latlng,distance,altitude,heartrate"


class StravaClient(HttpProvider):
    name = "strava"

    def _classify(self, response: httpx.Response) -> ProviderError:
        if response.status_code == 429:
            return ProviderThrottled(self.name, self._strava_retry_after(response))
        if response.status_code == 400 and "refresh_token" in response.text:
            return TokenRevoked("strava refresh token refused")
        if response.status_code == 401:
            if "_permission" in response.text:  # missing scope: the user must grant it again
                return TokenRevoked("strava token lacks a required scope")
            return TokenExpired("strava 401")
        return super()._classify(response)

    def _strava_retry_after(self, response: httpx.Response) -> float:
        """Strava windows are aligned to :00 :15 :30 :45 (and midnight UTC for the daily one)."""
        explicit = self._retry_after(response)
        if explicit:
            return explicit
        now = time.time()
        limit = _pair(response.headers.get("X-RateLimit-Limit"))
        usage = _pair(response.headers.get("X-RateLimit-Usage"))
        if limit and usage and usage[1] >= limit[1]:
            return 86400 - now % 86400
        return 900 - now % 900

    def refresh(self, app: ProviderAppSecret, tokens: ProviderTokens) -> ProviderTokens:
        response = self._request("POST", "/oauth/token", data={
            "client_id": app["clientId"], "client_secret": app["clientSecret"],
            "grant_type": "refresh_token", "refresh_token": tokens["refreshToken"]})
        body = response.json()
        expires_at = int(body.get("expires_at") or time.time() + int(body.get("expires_in", 21600)))
        return ProviderTokens(accessToken=body["access_token"], refreshToken=body.get("refresh_token") or
                              tokens["refreshToken"], expiresAt=expires_at, scope=tokens.get("scope", ""),
                              providerUserId=tokens.get("providerUserId", ""))

    def list_since(self, token: str, data_type: str, cursor: int, limit: int) -> tuple[list[ItemMeta], int]:
        _require_workout(data_type)
        items = self._list(token, {"after": cursor}, limit)
        items = sorted((i for i in items if i.start > cursor), key=lambda i: i.start)[:limit]
        return items, max([cursor] + [i.start for i in items])

    def has_new_data(self, token: str, data_type: str, cursor: int) -> bool:
        _require_workout(data_type)
        response = self._request("GET", "/api/v3/athlete/activities", token=token,
                                 params={"after": cursor, "per_page": 1, "page": 1})
        return bool(response.json())

    def list_window(self, token: str, data_type: str, start: int, end: int) -> list[ItemMeta]:
        _require_workout(data_type)
        return self._list(token, {"after": start - 1, "before": end + 1}, PAGE_SIZE * MAX_PAGES)

    def _list(self, token: str, window: dict[str, int], limit: int) -> list[ItemMeta]:
        items: list[ItemMeta] = []
        for page in range(1, MAX_PAGES + 1):
            response = self._request("GET", "/api/v3/athlete/activities", token=token,
                                     params={**window, "per_page": PAGE_SIZE, "page": page})
            rows = response.json()
            items.extend(_meta(row) for row in rows)
            if len(rows) < PAGE_SIZE or len(items) >= limit:  # Strava has no total: stop on a short page
                break
        return items

    def hydrate(self, token: str, items: list[ItemMeta]) -> list[ItemPayload]:
        payloads = []
        for item in items:
            response = self._request("GET", f"/api/v3/activities/{item.item_id}/streams", token=token,
                                     params={"keys": STREAM_KEYS, "key_by_type": "true"})
            payloads.append(ItemPayload(item, _samples(item.start, response.json())))
        return payloads

    def write(self, token: str, payload: ItemPayload, external_id: str) -> None:
        """Upload the hydrated workout as a TCX file carrying our external_id (Strava's idempotency handle; it
        also refuses a byte-identical file as a duplicate). The file starts and ends at the source item's times."""
        meta = payload.meta
        self._request("POST", "/api/v3/uploads", token=token, data={
            "data_type": "tcx", "external_id": external_id, "name": meta.name or meta.kind.title(),
            "sport_type": _sport_type(meta.kind), "trainer": "0", "commute": "0"},
            files={"file": (f"{external_id}.tcx", to_tcx(payload, external_id), "application/vnd.garmin.tcx+xml")})


def _require_workout(data_type: str) -> None:
    if data_type != "workout":
        raise Unsupported(f"strava has no {data_type} data")


def _pair(value: str | None) -> tuple[int, int] | None:
    try:
        short, daily = (value or "").split(",")
        return int(short), int(daily)
    except ValueError:
        return None


_KINDS = {"run": "RUN", "trailrun": "RUN", "virtualrun": "RUN", "ride": "RIDE", "virtualride": "RIDE",
          "mountainbikeride": "RIDE", "gravelride": "RIDE", "ebikeride": "RIDE", "walk": "WALK", "hike": "HIKE",
          "swim": "SWIM"}
_SPORT = {"RUN": "Run", "RIDE": "Ride", "WALK": "Walk", "HIKE": "Hike", "SWIM": "Swim"}


def _sport_type(kind: str) -> str:
    return _SPORT.get(kind, "Workout")


def _meta(row: dict[str, Any]) -> ItemMeta:
    start = parse_iso(row["start_date"])
    elapsed = int(row.get("elapsed_time") or 0)
    sport = str(row.get("sport_type") or row.get("type") or "Workout")
    return ItemMeta(provider="strava", item_id=str(row["id"]), data_type="workout", start=start, duration_s=elapsed,
                    kind=_KINDS.get(sport.lower(), sport.upper()), updated_at=start + elapsed,
                    name=str(row.get("name") or ""), distance_m=float(row.get("distance") or 0.0),
                    utc_offset_s=int(row.get("utc_offset") or 0), external_id=row.get("external_id"),
                    calories=int(row.get("kilojoules") or 0))


def _samples(start: int, streams: Any) -> list[dict[str, Any]]:
    if isinstance(streams, list):  # key_by_type=false shape: a list of {type, data}
        streams = {s.get("type"): s for s in streams}
    if not isinstance(streams, dict):
        raise PermanentProviderError("strava streams: unexpected body")
    data = {key: (value or {}).get("data") or [] for key, value in streams.items()}
    times = data.get("time") or []
    samples = []
    for index, offset in enumerate(times):
        sample: dict[str, Any] = {"t": start + int(offset)}
        if index < len(data.get("latlng", [])):
            sample["lat"], sample["lng"] = data["latlng"][index][:2]
        for key, name in (("altitude", "alt"), ("heartrate", "hr"), ("distance", "dist")):
            if index < len(data.get(key, [])):
                sample[name] = data[key][index]
        samples.append(sample)
    return samples
