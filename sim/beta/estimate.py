"""Estimate a traffic model from beta telemetry, with bootstrap confidence intervals over users.

Every estimator is a ratio of sums of per-user totals, so one bootstrap resample is a weighted sum over users
(weights = how often each user was drawn) and the whole bootstrap is one matrix product per block:

* sessions / user / day  = sessions / active user-days   (a user-day is active when it has a session_start:
  that user counts in that day's DAU)
* requests / session     = api_call rows / sessions
* syncs / user / day     = sync_requested rows / active user-days
* write / read ratio     = db_writes / db_reads over succeeded syncs
* peak-to-average        = max / mean of the hour-of-day profile of api_call + sync_requested rows
* light / heavy payload  = mean payload_bytes of succeeded syncs below / at or above the heavy threshold
* heavy share            = heavy succeeded syncs / succeeded syncs with a payload
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.beta.telemetry import KIND_CODE, OUTCOMES, Telemetry
from sim.errors import UsageError
from sim.models import PARAMETER_NAMES, get_model

SUCCEEDED = OUTCOMES.index("succeeded")

# Columns of the per-user totals matrix.
COL_ACTIVE_DAYS, COL_SESSIONS, COL_API, COL_SYNCS, COL_READS, COL_WRITES = range(6)
COL_LIGHT_N, COL_LIGHT_BYTES, COL_HEAVY_N, COL_HEAVY_BYTES, COL_FINISHED, COL_SUCCEEDED = range(6, 12)
COL_HOURS = 12  # 24 hour-of-day counts follow
N_COLUMNS = COL_HOURS + 24


def default_heavy_threshold_kb() -> float:
    """Geometric mean of the Nominal light and heavy sizes (5 KB, 500 KB -> 50 KB): far from both modes."""
    nominal = get_model("nominal")
    return math.sqrt(nominal.light_payload_kb * nominal.heavy_payload_kb)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if math.isnan(v) else v) for k, v in (("value", self.value), ("low", self.low),
                                                                  ("high", self.high))}


@dataclass(frozen=True)
class FitResult:
    estimates: dict[str, Estimate]     # by parameter name (sim.models.PARAMETER_NAMES)
    users: int
    user_days: int
    events: int
    days_observed: float
    sync_success_rate: float
    hourly_profile: tuple[float, ...]  # mean 1
    confidence: float
    bootstrap: int
    heavy_threshold_kb: float

    def value(self, name: str) -> float:
        return self.estimates[name].value

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimates": {name: est.as_dict() for name, est in self.estimates.items()},
            "users": self.users,
            "user_days": self.user_days,
            "events": self.events,
            "days_observed": self.days_observed,
            "sync_success_rate": self.sync_success_rate,
            "hourly_profile": list(self.hourly_profile),
            "confidence": self.confidence,
            "bootstrap": self.bootstrap,
            "heavy_threshold_kb": self.heavy_threshold_kb,
        }


def per_user_totals(telemetry: Telemetry, heavy_threshold_kb: float) -> np.ndarray:
    """A (users x N_COLUMNS) matrix of the sums every estimator needs."""
    n_users = len(telemetry.user_ids)
    user, kind = telemetry.user, telemetry.kind
    totals = np.zeros((n_users, N_COLUMNS), dtype=float)

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(user[mask], weights=None if weights is None else weights[mask], minlength=n_users)

    is_session = kind == KIND_CODE["session_start"]
    day = np.floor(telemetry.ts / 86_400.0).astype(np.int64)
    active_pairs = np.unique(np.stack([user[is_session], day[is_session]], axis=1), axis=0)
    totals[:, COL_ACTIVE_DAYS] = np.bincount(active_pairs[:, 0], minlength=n_users) if len(active_pairs) else 0
    totals[:, COL_SESSIONS] = count(is_session)
    is_api = kind == KIND_CODE["api_call"]
    is_sync = kind == KIND_CODE["sync_requested"]
    totals[:, COL_API] = count(is_api)
    totals[:, COL_SYNCS] = count(is_sync)
    finished = kind == KIND_CODE["sync_finished"]
    succeeded = finished & (telemetry.outcome == SUCCEEDED)
    totals[:, COL_FINISHED] = count(finished)
    totals[:, COL_SUCCEEDED] = count(succeeded)
    totals[:, COL_READS] = count(succeeded, telemetry.db_reads.astype(float))
    totals[:, COL_WRITES] = count(succeeded, telemetry.db_writes.astype(float))
    payload = telemetry.payload_bytes.astype(float)
    with_payload = succeeded & (telemetry.payload_bytes > 0)
    heavy = with_payload & (payload >= heavy_threshold_kb * 1000.0)
    light = with_payload & ~heavy
    totals[:, COL_LIGHT_N] = count(light)
    totals[:, COL_LIGHT_BYTES] = count(light, payload)
    totals[:, COL_HEAVY_N] = count(heavy)
    totals[:, COL_HEAVY_BYTES] = count(heavy, payload)
    load = is_api | is_sync
    hour = (np.floor(telemetry.ts[load] / 3600.0).astype(np.int64)) % 24
    np.add.at(totals, (user[load], COL_HOURS + hour), 1.0)
    return totals


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def parameters_from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Estimators from column sums; ``sums`` is (..., N_COLUMNS), results have the leading shape."""
    s = sums
    hours = s[..., COL_HOURS:COL_HOURS + 24]
    hour_mean = hours.mean(axis=-1)
    with_payload = s[..., COL_LIGHT_N] + s[..., COL_HEAVY_N]
    return {
        "sessions_per_user_per_day": _ratio(s[..., COL_SESSIONS], s[..., COL_ACTIVE_DAYS]),
        "requests_per_session": _ratio(s[..., COL_API], s[..., COL_SESSIONS]),
        "syncs_per_user_per_day": _ratio(s[..., COL_SYNCS], s[..., COL_ACTIVE_DAYS]),
        "write_read_ratio": _ratio(s[..., COL_WRITES], s[..., COL_READS]),
        "peak_to_average": _ratio(hours.max(axis=-1), hour_mean),
        "light_payload_kb": _ratio(s[..., COL_LIGHT_BYTES], s[..., COL_LIGHT_N] * 1000.0),
        "heavy_payload_kb": _ratio(s[..., COL_HEAVY_BYTES], s[..., COL_HEAVY_N] * 1000.0),
        "heavy_share": _ratio(s[..., COL_HEAVY_N], with_payload),
    }


def fit_telemetry(
    telemetry: Telemetry,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    heavy_threshold_kb: float | None = None,
    block: int | None = None,
) -> FitResult:
    """Point estimates plus percentile bootstrap intervals (resampling users with replacement)."""
    if bootstrap < 10:
        raise UsageError(f"--bootstrap needs at least 10 resamples, got {bootstrap}")
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {confidence}")
    threshold = default_heavy_threshold_kb() if heavy_threshold_kb is None else heavy_threshold_kb
    if threshold <= 0:
        raise UsageError(f"--heavy-threshold-kb must be > 0, got {threshold}")
    totals = per_user_totals(telemetry, threshold)
    if totals[:, COL_ACTIVE_DAYS].sum() == 0:
        raise UsageError("the telemetry has no session_start rows, so no active user-days to divide by")
    point = parameters_from_sums(totals.sum(axis=0))
    rng = np.random.Generator(np.random.PCG64(seed))
    n_users = totals.shape[0]
    # resamples per matrix product: keep the (block x users) weight matrix around 2M cells
    block = block or max(1, min(200, 2_000_000 // n_users))
    uniform = np.full(n_users, 1.0 / n_users)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in PARAMETER_NAMES}
    done = 0
    while done < bootstrap:
        size = min(block, bootstrap - done)
        weights = rng.multinomial(n_users, uniform, size=size).astype(float)
        for name, values in parameters_from_sums(weights @ totals).items():
            draws[name].append(values)
        done += size
    tail = (1 - confidence) / 2 * 100
    estimates = {}
    for name in PARAMETER_NAMES:
        samples = np.concatenate(draws[name])
        samples = samples[~np.isnan(samples)]
        value = float(point[name])
        if samples.size and not math.isnan(value):
            low, high = np.percentile(samples, [tail, 100 - tail])
            estimates[name] = Estimate(value, float(low), float(high))
        else:
            estimates[name] = Estimate(value, math.nan, math.nan)
    hours = totals[:, COL_HOURS:].sum(axis=0)
    span = float(telemetry.ts.max() - telemetry.ts.min()) / 86_400.0
    finished = totals[:, COL_FINISHED].sum()
    return FitResult(
        estimates=estimates,
        users=n_users,
        user_days=int(totals[:, COL_ACTIVE_DAYS].sum()),
        events=len(telemetry),
        days_observed=span,
        sync_success_rate=float(totals[:, COL_SUCCEEDED].sum() / finished) if finished else math.nan,
        hourly_profile=tuple(float(h) for h in (hours / hours.mean() if hours.mean() > 0 else hours)),
        confidence=confidence,
        bootstrap=bootstrap,
        heavy_threshold_kb=threshold,
    )
