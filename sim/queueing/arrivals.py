"""Sync-job arrival times for the simulator: a rate profile expanded to Poisson arrivals, or a trace.

This module is self-contained on purpose (the traffic models in ``sim/models.py`` are built elsewhere): it
carries the three scenarios' sync numbers from seed 004 §2 and a diurnal profile builder whose peak-to-average
ratio is a parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ArrivalProfile:
    """Piecewise-constant arrival rate: ``rates[i]`` syncs/s during ``[start_s + i*w, start_s + (i+1)*w)``."""

    rates: np.ndarray
    bucket_s: float
    start_s: float = 0.0

    def __post_init__(self) -> None:
        rates = np.asarray(self.rates, dtype=np.float64)
        if rates.ndim != 1 or rates.size == 0:
            raise ValueError("rates must be a non-empty 1-D array")
        if np.any(rates < 0) or not np.all(np.isfinite(rates)):
            raise ValueError("rates must be finite and >= 0")
        if self.bucket_s <= 0:
            raise ValueError("bucket_s must be > 0")
        object.__setattr__(self, "rates", rates)

    @property
    def duration_s(self) -> float:
        return float(self.rates.size * self.bucket_s)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def expected_count(self) -> float:
        return float(self.rates.sum() * self.bucket_s)

    def window(self, start_s: float, duration_s: float) -> ArrivalProfile:
        """The part of the profile between ``start_s`` and ``start_s + duration_s`` (bucket-aligned)."""
        first = int(math.floor((start_s - self.start_s) / self.bucket_s))
        count = int(math.ceil(duration_s / self.bucket_s))
        if first < 0 or first + count > self.rates.size or count <= 0:
            raise ValueError("window lies outside the profile")
        return ArrivalProfile(self.rates[first : first + count], self.bucket_s, self.start_s + first * self.bucket_s)


def poisson_arrivals(profile: ArrivalProfile, seed: int) -> np.ndarray:
    """Sorted arrival times of a non-homogeneous Poisson process with the profile's rate.

    Time-rescaling: unit-rate exponential gaps summed give the arrivals in "expected count" time; the inverse
    of the piecewise-linear cumulative intensity maps them back to seconds. O(n), no sort needed.
    """
    rng = np.random.default_rng(seed)
    cumulative = np.concatenate(([0.0], np.cumsum(profile.rates * profile.bucket_s)))
    total = float(cumulative[-1])
    if total <= 0:
        return np.empty(0, dtype=np.float64)
    count = int(rng.poisson(total))
    if count == 0:
        return np.empty(0, dtype=np.float64)
    # Given the count, Poisson points are uniform in rescaled time: sorted uniforms via normalised gaps.
    gaps = rng.exponential(1.0, size=count + 1)
    scaled = np.cumsum(gaps[:-1])
    scaled *= total / (scaled[-1] + gaps[-1])
    # side="right" skips zero-rate buckets (equal cumulative values), so every bucket found has a rate > 0.
    bucket = np.searchsorted(cumulative, scaled, side="right") - 1
    np.clip(bucket, 0, profile.rates.size - 1, out=bucket)
    rates = profile.rates[bucket]
    times = profile.start_s + bucket * profile.bucket_s + (scaled - cumulative[bucket]) / rates
    # Rounding can push a time a hair past its neighbour; arrivals must stay sorted.
    return np.maximum.accumulate(times)


def diurnal_profile(
    avg_rate: float,
    peak_to_average: float,
    *,
    bucket_s: float = 60.0,
    duration_s: float = SECONDS_PER_DAY,
    peak_hour: float = 19.0,
    floor_fraction: float = 0.2,
) -> ArrivalProfile:
    """A one-day profile with mean ``avg_rate`` and maximum ``peak_to_average * avg_rate``.

    Shape: ``avg * (floor + (ptoa - floor) * bump(t)**k)`` with ``bump`` a raised cosine peaking at
    ``peak_hour``; ``k`` is solved so the mean is exactly ``avg`` on the bucket grid. ``floor_fraction`` is the
    night-time rate as a share of the average (lowered automatically when the ratio is too small to allow it).
    A profile covering less than a day is the day's profile cut at ``duration_s``.
    """
    if avg_rate < 0 or peak_to_average < 1 or bucket_s <= 0 or duration_s <= 0:
        raise ValueError("need avg_rate >= 0, peak_to_average >= 1, bucket_s > 0, duration_s > 0")
    n_day = int(round(SECONDS_PER_DAY / bucket_s))
    centers = (np.arange(n_day) + 0.5) * bucket_s
    peak_s = peak_hour * 3600.0
    # Put the peak on a bucket centre so the maximum rate is exactly peak_to_average * avg.
    peak_s = (math.floor(peak_s / bucket_s) + 0.5) * bucket_s
    bump = 0.5 * (1.0 + np.cos(2.0 * math.pi * (centers - peak_s) / SECONDS_PER_DAY))
    if peak_to_average == 1.0:
        shape = np.ones(n_day)
    else:
        floor = min(floor_fraction, 0.5 * (1.0 / peak_to_average))
        target = (1.0 - floor) / (peak_to_average - floor)  # the mean bump**k must take
        k = _solve_power(bump, target)
        shape = floor + (peak_to_average - floor) * bump**k
        shape *= 1.0 / shape.mean()  # remove the bisection's residual so the day's total is exact
    rates = avg_rate * shape
    n_keep = int(math.ceil(duration_s / bucket_s))
    repeats = int(math.ceil(n_keep / n_day))
    return ArrivalProfile(np.tile(rates, repeats)[:n_keep], bucket_s, 0.0)


def _solve_power(bump: np.ndarray, target_mean: float) -> float:
    """The k with mean(bump**k) == target_mean (the mean falls monotonically as k grows)."""
    low, high = 0.0, 1.0
    while float(np.mean(bump**high)) > target_mean:
        high *= 2.0
        if high > 1e6:
            raise ValueError("peak-to-average ratio too large for the bucket width")
    for _ in range(80):
        mid = 0.5 * (low + high)
        if float(np.mean(bump**mid)) > target_mean:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


@dataclass(frozen=True)
class SyncTrafficModel:
    """The hot-path rows of seed 004 §2's traffic table."""

    name: str
    syncs_per_user_per_day: float
    peak_to_average: float

    def syncs_per_day(self, dau: int) -> float:
        return dau * self.syncs_per_user_per_day

    def average_rate(self, dau: int) -> float:
        return self.syncs_per_day(dau) / SECONDS_PER_DAY

    def profile(self, dau: int, *, bucket_s: float = 60.0, peak_hour: float = 19.0) -> ArrivalProfile:
        return diurnal_profile(self.average_rate(dau), self.peak_to_average, bucket_s=bucket_s, peak_hour=peak_hour)


# Seed 004 §2: "Hot Path" Syncs / User / Day 5 / 10 / 20; Peak-to-Average Ratio 3:1 / 5:1 / 8:1.
TRAFFIC_MODELS: dict[str, SyncTrafficModel] = {
    "conservative": SyncTrafficModel("conservative", 5.0, 3.0),
    "nominal": SyncTrafficModel("nominal", 10.0, 5.0),
    "aggressive": SyncTrafficModel("aggressive", 20.0, 8.0),
}
