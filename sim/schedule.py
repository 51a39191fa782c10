"""Arrival schedules: what a traffic model sends, when, as rates over time and as concrete events.

Two halves:

* ``build_rate_profile(model, ...)`` -> ``RateProfile``: the arrival rate (events per wall-clock second) of every
  kind of request in every time bucket, following a diurnal profile whose peak-to-average ratio is the model's.
* ``generate_arrivals(profile, seed)`` -> iterator of ``ArrivalEvent``: a non-homogeneous Poisson process drawn
  from that profile (the rate is piecewise constant, so per bucket: a Poisson count, uniform times), sorted by
  time, deterministic for a seed, generated lazily in numpy chunks (millions of events per second).

How daily totals split into kinds (endpoint mix, sync sources, webhook providers) is data in
``sim/data/traffic_mix.yaml``; the seeds only give totals. Time compression ``c`` plays one simulated day in
86,400 / c wall seconds, so every rate is multiplied by ``c``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

from sim.errors import UsageError
from sim.models import TrafficModel, load_data_file

MIX_FILE = "traffic_mix.yaml"
SECONDS_PER_DAY = 86_400.0

KIND_MANUAL_SYNC = "POST /v1/sync-jobs"
KIND_SYNC_STATUS = "GET /v1/sync-jobs/{jobId}"
KIND_DEVICE_UPLOAD = "POST /v1/device-upload"
KIND_SCHEDULED_SYNC = "scheduled_sync"
WEBHOOK_PREFIX = "webhook:"

# How an event's payload_bytes is chosen: the sync payload mix (light or heavy, heavy with the model's
# share), the light "API payload" size, or nothing (a GET has no body).
PAYLOAD_SYNC_MIX = "sync_mix"
PAYLOAD_LIGHT = "light"
PAYLOAD_NONE = "none"


@dataclass(frozen=True, slots=True)
class ArrivalEvent:
    """One request to send. ``at_s`` is the scheduled send time in wall seconds from the start of the run
    (latency is measured from it, not from when the request actually left). ``payload_bytes`` is the body of
    an upload or settings call, or the data volume a sync will move (what the fake provider should serve)."""

    at_s: float
    kind: str
    user_index: int
    payload_bytes: int


@dataclass(frozen=True)
class TrafficMix:
    """sim/data/traffic_mix.yaml, validated."""

    sync_sources: dict[str, float]
    status_polls_per_manual_sync: float
    notifications_per_webhook_sync: float
    other_endpoints: dict[str, float]
    webhook_providers: dict[str, float]
    diurnal_hourly_shape: tuple[float, ...]


def _normalised(weights: dict[str, float], what: str) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise UsageError(f"{what}: weights must be >= 0 and not all zero")
    return {key: value / total for key, value in weights.items()}


@lru_cache(maxsize=1)
def load_mix() -> TrafficMix:
    raw = load_data_file(MIX_FILE)
    try:
        sources = _normalised({k: float(v) for k, v in raw["sync_sources"].items()}, "sync_sources")
        missing = {"manual", "webhook", "device_upload", "scheduled"} - set(sources)
        if missing:
            raise UsageError(f"sim/data/{MIX_FILE}: sync_sources lacks {', '.join(sorted(missing))}")
        shape = tuple(float(x) for x in raw["diurnal_hourly_shape"])
        if len(shape) != 24 or min(shape) <= 0:
            raise UsageError(f"sim/data/{MIX_FILE}: diurnal_hourly_shape needs 24 positive values")
        return TrafficMix(
            sync_sources=sources,
            status_polls_per_manual_sync=float(raw["status_polls_per_manual_sync"]),
            notifications_per_webhook_sync=float(raw["notifications_per_webhook_sync"]),
            other_endpoints=_normalised({k: float(v) for k, v in raw["other_endpoints"].items()}, "other_endpoints"),
            webhook_providers=_normalised(
                {k: float(v) for k, v in raw["webhook_providers"].items()}, "webhook_providers"
            ),
            diurnal_hourly_shape=shape,
        )
    except KeyError as exc:
        raise UsageError(f"sim/data/{MIX_FILE} is missing {exc.args[0]!r}") from exc


@dataclass(frozen=True)
class KindSpec:
    kind: str
    per_user_per_day: float
    payload: str          # PAYLOAD_SYNC_MIX, PAYLOAD_LIGHT or PAYLOAD_NONE
    category: str         # "api", "webhook" or "scheduled"


def kinds_per_user_day(model: TrafficModel, mix: TrafficMix | None = None) -> list[KindSpec]:
    """Per user-day counts of every kind of arrival (see traffic_mix.yaml for the derivation)."""
    mix = mix or load_mix()
    syncs = model.syncs_per_user_per_day
    manual = syncs * mix.sync_sources["manual"]
    device = syncs * mix.sync_sources["device_upload"]
    polls = manual * mix.status_polls_per_manual_sync
    api_total = model.sessions_per_user_per_day * model.requests_per_session
    remainder = api_total - manual - device - polls
    if remainder < -1e-9:
        raise UsageError(
            f"model {model.name!r}: {api_total:g} API requests/user/day cannot hold its {manual + device + polls:g} "
            "sync-related calls (manual syncs, device uploads, status polls); lower syncs or raise requests"
        )
    remainder = max(0.0, remainder)
    specs = [
        KindSpec(KIND_MANUAL_SYNC, manual, PAYLOAD_SYNC_MIX, "api"),
        KindSpec(KIND_SYNC_STATUS, polls, PAYLOAD_NONE, "api"),
        KindSpec(KIND_DEVICE_UPLOAD, device, PAYLOAD_SYNC_MIX, "api"),
    ]
    for endpoint, weight in mix.other_endpoints.items():
        payload = PAYLOAD_NONE if endpoint.startswith("GET ") else PAYLOAD_LIGHT
        specs.append(KindSpec(endpoint, remainder * weight, payload, "api"))
    notifications = syncs * mix.sync_sources["webhook"] * mix.notifications_per_webhook_sync
    for provider, weight in mix.webhook_providers.items():
        specs.append(KindSpec(f"{WEBHOOK_PREFIX}{provider}", notifications * weight, PAYLOAD_SYNC_MIX, "webhook"))
    specs.append(KindSpec(KIND_SCHEDULED_SYNC, syncs * mix.sync_sources["scheduled"], PAYLOAD_SYNC_MIX, "scheduled"))
    return specs


def diurnal_profile(
    peak_to_average: float, buckets_per_day: int = 24, shape: Sequence[float] | None = None
) -> np.ndarray:
    """Rate multipliers for ``buckets_per_day`` equal buckets: mean exactly 1, maximum exactly ``peak_to_average``.

    The 24 hourly shape values are interpolated (periodically) to the bucket grid and normalised to mean 1;
    call its own peak-to-average ``r0``. A lower ratio blends the shape with a flat line; a higher one blends
    it with a narrow Gaussian rush centred on the shape's peak bucket (so both maxima coincide and the blend's
    maximum is linear in the weight, solved exactly). The rush is made twice as peaked as needed so half the
    day keeps the shape's form (the night stays quiet but not empty).
    """
    if buckets_per_day < 1:
        raise UsageError("buckets_per_day must be >= 1")
    if not peak_to_average >= 1:
        raise UsageError(f"peak_to_average must be >= 1, got {peak_to_average}")
    if buckets_per_day == 1:
        if peak_to_average != 1:
            raise UsageError("a single bucket per day cannot have a peak above its average")
        return np.ones(1)
    hourly = np.asarray(shape if shape is not None else load_mix().diurnal_hourly_shape, dtype=float)
    centres_h = (np.arange(buckets_per_day) + 0.5) * 24.0 / buckets_per_day
    base = np.interp(centres_h, np.arange(len(hourly)) + 0.5, hourly, period=24.0)
    base = base / base.mean()
    base_ratio = float(base.max())
    if peak_to_average <= base_ratio:
        weight = (peak_to_average - 1) / (base_ratio - 1) if base_ratio > 1 else 0.0
        return 1 + weight * (base - 1)
    peak_h = centres_h[int(base.argmax())]
    sigma_h = 24.0 / (2 * peak_to_average * np.sqrt(2 * np.pi))
    distance_h = np.abs((centres_h - peak_h + 12.0) % 24.0 - 12.0)
    rush = np.exp(-0.5 * (distance_h / sigma_h) ** 2)
    rush = rush / rush.mean()
    rush_ratio = float(rush.max())
    if peak_to_average > rush_ratio + 1e-9:
        raise UsageError(
            f"peak_to_average {peak_to_average:g} is unreachable with {buckets_per_day} buckets per day "
            f"(at most {rush_ratio:.3g}); use more buckets"
        )
    weight = (peak_to_average - base_ratio) / (rush_ratio - base_ratio)
    return (1 - weight) * base + weight * rush


@dataclass(frozen=True)
class RateProfile:
    """Arrival rates (events per wall-clock second) per kind, piecewise constant over time segments.

    ``segment_start_s`` / ``segment_length_s`` are wall-clock; ``segment_multiplier`` the diurnal multiplier
    (mean 1 over a day); ``rates[i, j]`` the rate of ``kinds[j]`` in segment ``i``.
    """

    model: TrafficModel
    dau: int
    compression: float
    day_offset_s: float
    duration_s: float
    kinds: tuple[str, ...]
    payload_modes: tuple[str, ...]
    categories: tuple[str, ...]
    segment_start_s: np.ndarray
    segment_length_s: np.ndarray
    segment_multiplier: np.ndarray
    rates: np.ndarray
    syncs_per_s: np.ndarray = field(repr=False)

    def total_rate(self) -> np.ndarray:
        return self.rates.sum(axis=1)

    def peak_to_average(self) -> float:
        """Peak over time-weighted mean of the total rate (equals the model's ratio over a whole day)."""
        total = self.total_rate()
        mean = float((total * self.segment_length_s).sum() / self.segment_length_s.sum())
        return float(total.max() / mean) if mean > 0 else 1.0

    def expected_counts(self) -> dict[str, float]:
        counts = (self.rates * self.segment_length_s[:, None]).sum(axis=0)
        return {kind: float(n) for kind, n in zip(self.kinds, counts)}

    def peak_api_rate_per_user(self) -> float:
        """Peak API requests per second of one average user, in wall time. Compression multiplies it, so
        compare it with the per-user rate limit (10 req/s, burst 20) before blaming the backend for 429s."""
        api = self.rates[:, [category == "api" for category in self.categories]].sum(axis=1)
        return float(api.max() / self.dau) if self.dau and len(api) else 0.0

    def rate_of(self, kind: str) -> np.ndarray:
        return self.rates[:, self.kinds.index(kind)]


def build_rate_profile(
    model: TrafficModel,
    dau: int | None = None,
    compression: float | None = None,
    duration_s: float | None = None,
    day_offset_s: float = 0.0,
    buckets_per_day: int = 24,
    mix: TrafficMix | None = None,
) -> RateProfile:
    """The rate of every kind over a run.

    Give ``compression`` (simulated seconds per wall second; a whole day takes 86,400 / compression s) or
    ``duration_s`` alone (play one whole day in that many seconds), or both (play ``duration_s`` wall seconds
    of the day starting at simulated ``day_offset_s``, e.g. the peak hour). Neither: one day in real time.
    """
    dau = model.dau if dau is None else int(dau)
    if dau < 0:
        raise UsageError(f"dau must be >= 0, got {dau}")
    if compression is None:
        compression = SECONDS_PER_DAY / duration_s if duration_s else 1.0
    if compression <= 0:
        raise UsageError(f"time compression must be > 0, got {compression}")
    if duration_s is None:
        duration_s = SECONDS_PER_DAY / compression
    if duration_s <= 0:
        raise UsageError(f"duration must be > 0 s, got {duration_s}")
    multipliers = diurnal_profile(model.peak_to_average, buckets_per_day, (mix or load_mix()).diurnal_hourly_shape)
    specs = kinds_per_user_day(model, mix)
    per_day = np.array([spec.per_user_per_day for spec in specs]) * dau
    starts, lengths, mults = _segments(day_offset_s, duration_s * compression, multipliers)
    base_rates = per_day / SECONDS_PER_DAY * compression  # per wall second at multiplier 1
    return RateProfile(
        model=model,
        dau=dau,
        compression=compression,
        day_offset_s=day_offset_s,
        duration_s=duration_s,
        kinds=tuple(spec.kind for spec in specs),
        payload_modes=tuple(spec.payload for spec in specs),
        categories=tuple(spec.category for spec in specs),
        segment_start_s=(starts - day_offset_s) / compression,
        segment_length_s=lengths / compression,
        segment_multiplier=mults,
        rates=mults[:, None] * base_rates[None, :],
        syncs_per_s=mults * dau * model.syncs_per_user_per_day / SECONDS_PER_DAY * compression,
    )


def _segments(start: float, length: float, multipliers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut simulated time [start, start + length) at bucket edges (wrapping days): starts, lengths, multipliers."""
    bucket = SECONDS_PER_DAY / len(multipliers)
    starts, lengths, mults = [], [], []
    t, end = float(start), float(start) + float(length)
    while t < end - 1e-9:
        index = int(np.floor(t / bucket))
        edge = min((index + 1) * bucket, end)
        starts.append(t)
        lengths.append(edge - t)
        mults.append(multipliers[index % len(multipliers)])
        t = edge
    return np.array(starts), np.array(lengths), np.array(mults)


def generate_arrivals(
    profile: RateProfile,
    seed: int,
    kinds: Sequence[str] | None = None,
    include_scheduled: bool = False,
    max_events_per_chunk: int = 50_000,
) -> Iterator[ArrivalEvent]:
    """Concrete arrivals of ``profile``, sorted by ``at_s``: a non-homogeneous Poisson process, same seed ->
    same events. ``kinds`` restricts the kinds; scheduled syncs (started by the backend's own scheduler) are
    left out unless ``include_scheduled``. Users are drawn uniformly from ``range(profile.dau)``."""
    for chunk in generate_arrival_arrays(profile, seed, kinds, include_scheduled, max_events_per_chunk):
        times, kind_idx, users, payloads = (array.tolist() for array in chunk.arrays)
        names = chunk.kinds
        for at_s, k, user, payload in zip(times, kind_idx, users, payloads):
            yield ArrivalEvent(at_s, names[k], user, payload)


@dataclass(frozen=True)
class ArrivalChunk:
    """A block of consecutive arrivals as numpy arrays (for consumers that want to stay vectorised)."""

    kinds: tuple[str, ...]
    at_s: np.ndarray
    kind_index: np.ndarray
    user_index: np.ndarray
    payload_bytes: np.ndarray

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.at_s, self.kind_index, self.user_index, self.payload_bytes


def generate_arrival_arrays(
    profile: RateProfile,
    seed: int,
    kinds: Sequence[str] | None = None,
    include_scheduled: bool = False,
    max_events_per_chunk: int = 50_000,
) -> Iterator[ArrivalChunk]:
    """The same process as ``generate_arrivals``, yielded as sorted numpy chunks."""
    wanted = _selected_kinds(profile, kinds, include_scheduled)
    names = tuple(profile.kinds[j] for j in wanted)
    rates = profile.rates[:, wanted]
    model = profile.model
    light = int(round(model.light_payload_kb * 1000))
    heavy = int(round(model.heavy_payload_kb * 1000))
    payload_modes = np.array([profile.payload_modes[j] for j in wanted])
    sync_mix = payload_modes == PAYLOAD_SYNC_MIX
    light_only = payload_modes == PAYLOAD_LIGHT
    rng = np.random.Generator(np.random.PCG64(seed))
    dau = max(profile.dau, 1)
    for start, length, row in zip(profile.segment_start_s, profile.segment_length_s, rates):
        total_rate = float(row.sum())
        if total_rate <= 0:
            continue
        pieces = max(1, int(np.ceil(total_rate * length / max_events_per_chunk)))
        piece = length / pieces
        probabilities = row / total_rate
        for p in range(pieces):
            t0 = start + p * piece
            count = int(rng.poisson(total_rate * piece))
            if count == 0:
                continue
            times = t0 + np.sort(rng.random(count)) * piece
            kind_index = rng.choice(len(names), size=count, p=probabilities)
            users = rng.integers(0, dau, size=count)
            heavy_draw = rng.random(count) < model.heavy_share
            payload = np.where(
                sync_mix[kind_index], np.where(heavy_draw, heavy, light), np.where(light_only[kind_index], light, 0)
            )
            yield ArrivalChunk(names, times, kind_index, users, payload)


def _selected_kinds(profile: RateProfile, kinds: Sequence[str] | None, include_scheduled: bool) -> list[int]:
    if kinds is not None:
        unknown = sorted(set(kinds) - set(profile.kinds))
        if unknown:
            raise UsageError(f"unknown arrival kind(s) {', '.join(unknown)}; known: {', '.join(profile.kinds)}")
        return [j for j, kind in enumerate(profile.kinds) if kind in set(kinds)]
    return [
        j for j, category in enumerate(profile.categories) if include_scheduled or category != "scheduled"
    ]
