"""Heavy payloads: deterministic GPS/HR tracks (numpy) sized to a byte target, plus a bounded LRU of the
serialized bodies so serving the same 500 KB payload again is a memory copy."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np

from .synth import Workout
from .util import stable_hash


def track(seed: int, w: Workout, n: int) -> dict[str, np.ndarray]:
    """``n`` samples over the workout: time, lat, lng, altitude, distance, heartrate, cadence, watts, velocity."""
    n = max(2, int(n))
    rng = np.random.default_rng(stable_hash(seed, "track", w.id))
    if n <= w.elapsed + 1:   # about one sample per second or sparser: spread over the workout
        t = np.linspace(0, w.elapsed, n).round().astype(np.int64)
    else:                    # more samples than seconds (a big payload for a short workout): 1 s apart
        t = np.arange(n, dtype=np.int64)
    dist = max(w.distance, 1.0 if w.has_gps else 0.0)
    # speed profile with persistence, scaled so the cumulative distance ends at w.distance
    v = np.abs(1.0 + np.cumsum(rng.normal(0, 0.03, n)) * 0.2 + rng.normal(0, 0.05, n))
    dt = np.diff(t, prepend=t[0]).astype(float)
    step = v * dt
    total = step.sum() or 1.0
    cum = np.cumsum(step) * (dist / total)
    heading = np.cumsum(rng.normal(0, 0.08, n)) + rng.uniform(0, 2 * np.pi)
    seg = np.diff(cum, prepend=0.0)
    north = np.cumsum(seg * np.cos(heading))
    east = np.cumsum(seg * np.sin(heading))
    lat = w.lat + north / 111_320.0
    lng = w.lng + east / (111_320.0 * max(0.1, np.cos(np.radians(w.lat))))
    alt = 50 + np.cumsum(rng.normal(0, 0.4, n)) + 20 * np.sin(np.linspace(0, 3, n))
    hr0 = w.avg_hr or 120
    hr = np.clip(hr0 + np.cumsum(rng.normal(0, 0.6, n)) * 0.3 + rng.normal(0, 2, n) - 15 * np.exp(-t / 300.0),
                 60, 200).round().astype(np.int64)
    spd = np.divide(seg, np.maximum(dt, 1.0))
    cad = np.clip(rng.normal(w.spec.cadence / 2 if w.spec.cadence else 85, 3, n), 0, 200).round().astype(np.int64)
    watts = np.clip(rng.normal(200 * w.spec.speed / 7.2 if w.spec.speed else 0, 25, n), 0, 1500).round().astype(
        np.int64)
    return {"time": t, "lat": lat.round(6), "lng": lng.round(6), "altitude": alt.round(1), "distance": cum.round(1),
            "heartrate": hr, "cadence": cad, "watts": watts, "velocity": spd.round(2)}


class SizedCache:
    """LRU of serialized bodies keyed by (kind, item, size, variant). ``build(n)`` must return bytes for ``n``
    samples; the cache sizes n so the body is close to the target, learning bytes/sample per kind."""

    def __init__(self, max_entries: int = 128) -> None:
        self.max_entries = max_entries
        self._lru: OrderedDict[tuple, bytes] = OrderedDict()
        self._per_sample: dict[tuple, float] = {}
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._lru.clear()

    def get(self, key: tuple, target: int, build: Callable[[int], bytes], overhead_key: tuple | None = None,
            min_n: int = 2) -> bytes:
        body = self._lru.get(key)
        if body is not None:
            self.hits += 1
            self._lru.move_to_end(key)
            return body
        self.misses += 1
        kind = overhead_key or key[:1]
        if kind not in self._per_sample:
            small = build(200)
            big = build(400)
            per = max(1.0, (len(big) - len(small)) / 200.0)
            self._per_sample[kind] = per
            self._per_sample[kind + ("base",)] = max(0.0, len(small) - 200 * per)
        per = self._per_sample[kind]
        base = self._per_sample[kind + ("base",)]
        n = max(min_n, int((target - base) / per))
        body = build(n)
        if abs(len(body) - target) > 0.03 * target:
            # One secant step from the calibrated fixed part; when this document's fixed part is smaller than the
            # calibration's (a TCX's grows with its laps), that step is meaningless: scale by size instead.
            variable = len(body) - base
            ratio = (target - base) / variable if variable > 0.1 * target else target / max(1, len(body))
            n = max(min_n, int(n * min(max(ratio, 1 / 8), 8.0)))
            body = build(n)
        self._lru[key] = body
        if len(self._lru) > self.max_entries:
            self._lru.popitem(last=False)
        return body


_SHIFTS = np.arange(0, 35, 5, dtype=np.int64)


def _polyline_parts(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encoded characters (uint8) and each point's character count, vectorized."""
    pts = np.stack([np.round(np.asarray(lat) * 1e5), np.round(np.asarray(lng) * 1e5)], axis=1).astype(np.int64)
    d = np.diff(pts, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()
    z = (d << 1) ^ (d >> 63)                       # zigzag == Google's "invert if negative"
    shifted = z[:, None] >> _SHIFTS
    n = np.maximum(1, (shifted > 0).sum(axis=1))
    idx = np.arange(len(_SHIFTS))[None, :]
    chars = (shifted & 31) + 63 + 32 * (idx < (n - 1)[:, None])
    out = chars[idx < n[:, None]].astype(np.uint8)
    per_point = n.reshape(-1, 2).sum(axis=1)
    return out, per_point


def encode_polyline(lat: np.ndarray, lng: np.ndarray, max_chars: int | None = None) -> str:
    """Google's encoded polyline algorithm (precision 5), as in Strava's map.polyline; with ``max_chars`` the
    longest prefix of whole points that fits."""
    if len(lat) == 0:
        return ""
    out, per_point = _polyline_parts(lat, lng)
    if max_chars is not None:
        k = int(np.searchsorted(np.cumsum(per_point), max_chars, side="right"))
        out = out[: int(per_point[:k].sum())]
    return out.tobytes().decode("ascii")


def decode_polyline(s: str) -> list[tuple[float, float]]:
    coords, i, lat, lng = [], 0, 0, 0
    while i < len(s):
        vals = []
        for _ in range(2):
            shift = result = 0
            while True:
                b = ord(s[i]) - 63
                i += 1
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            vals.append(~(result >> 1) if result & 1 else result >> 1)
        lat += vals[0]
        lng += vals[1]
        coords.append((lat / 1e5, lng / 1e5))
    return coords


def shape(seed: int, w: Workout, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A cheap n-point outline of the workout's route (lat, lng), for polylines."""
    rng = np.random.default_rng(stable_hash(seed, "shape", w.id))
    heading = np.cumsum(rng.normal(0, 0.35, n)) + rng.uniform(0, 2 * np.pi)
    step = max(w.distance, 1.0) / n
    lat = w.lat + np.cumsum(step * np.cos(heading)) / 111_320.0
    lng = w.lng + np.cumsum(step * np.sin(heading)) / (111_320.0 * max(0.1, np.cos(np.radians(w.lat))))
    return lat.round(6), lng.round(6)
