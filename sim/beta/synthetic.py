"""A seeded synthetic private beta: telemetry drawn from a traffic model with known (or planted) parameters.

The population is heterogeneous on purpose, so the fit's bootstrap intervals have real spread to capture:

* each user-day is *active* (the user opens the app: a DAU) with the user's own probability;
* on an active day the user has ``1 + Poisson((sessions - 1) * h_u)`` sessions, ``Poisson(requests * m_u)`` API
  calls per session and ``Poisson(syncs * g_u)`` syncs, with ``h_u, m_u, g_u ~ Gamma(mean 1)`` per user, so
  every population mean is the model's parameter exactly;
* session and sync start hours follow the hourly diurnal profile with the model's peak-to-average ratio; a
  session's calls stay inside its hour;
* each sync reads its config once and writes ``write_read_ratio`` items on average; its payload is heavy with
  the model's share, log-normally sized around the light or heavy mean (sigma 0.3, far from the 50 KB line).

Everything is drawn with numpy over all user-days at once (``generate_beta_columns``); ``generate_beta``
turns the columns into ``TelemetryEvent`` rows, sorted by time, for writing files.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Iterator

import numpy as np

from sim.beta.telemetry import KIND_CODE, OUTCOMES, TRIGGERS, Telemetry, TelemetryEvent
from sim.models import TrafficModel
from sim.schedule import diurnal_profile, kinds_per_user_day, load_mix

DEFAULT_START = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday
HETEROGENEITY_SHAPE = 4.0        # Gamma shape of the per-user multipliers (coefficient of variation 0.5)
ACTIVE_DAY_PROBABILITY = (0.5, 1.0)   # each user's chance of opening the app on a given day, uniform range
PAYLOAD_SIGMA = 0.3
SESSION_SPAN_S = 300.0
FAILURE_RATE = 0.005
SYNC_DURATION_S = (1.0, 30.0)


@dataclass(frozen=True)
class BetaTruth:
    """The ground truth behind a synthetic beta file (written next to it as FILE.truth.json)."""

    model: str
    users: int
    days: int
    seed: int
    parameters: dict[str, float]
    planted: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BetaColumns:
    """Synthetic telemetry as parallel arrays, sorted by time. ``aux`` is the session number within the
    user-day for sessions and api calls, the sync number for syncs; -1 marks an absent integer."""

    ts: np.ndarray
    user: np.ndarray
    day: np.ndarray
    kind: np.ndarray
    aux: np.ndarray
    endpoint: np.ndarray
    trigger: np.ndarray
    outcome: np.ndarray
    payload_bytes: np.ndarray
    db_reads: np.ndarray
    db_writes: np.ndarray
    endpoint_names: tuple[str, ...]
    users: int
    seed: int

    def telemetry(self) -> Telemetry:
        """Columnar telemetry for the estimator, without going through a file."""
        present = np.unique(self.user)
        codes = np.searchsorted(present, self.user)
        return Telemetry(
            ts=self.ts, user=codes, kind=self.kind.astype(np.int8), outcome=self.outcome.astype(np.int8),
            payload_bytes=self.payload_bytes, db_reads=self.db_reads, db_writes=self.db_writes,
            user_ids=[f"u{u:06d}" for u in present.tolist()], rows_read=len(self.ts),
        )


def _user_multipliers(rng: np.random.Generator, users: int) -> np.ndarray:
    return rng.gamma(HETEROGENEITY_SHAPE, 1 / HETEROGENEITY_SHAPE, size=users)


def _index_within_group(counts: np.ndarray) -> np.ndarray:
    """[2, 0, 3] -> [0, 1, 0, 1, 2]: each item's position inside its group."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def generate_beta_columns(
    model: TrafficModel, users: int, days: int, seed: int, start: datetime = DEFAULT_START
) -> BetaColumns:
    rng = np.random.Generator(np.random.PCG64(seed))
    hourly = diurnal_profile(model.peak_to_average, 24)
    hour_p = hourly / hourly.sum()
    mix = load_mix()
    api_specs = [spec for spec in kinds_per_user_day(model, mix) if spec.category == "api"]
    endpoint_weights = np.array([spec.per_user_per_day for spec in api_specs])
    endpoint_p = endpoint_weights / endpoint_weights.sum() if endpoint_weights.sum() > 0 else None
    trigger_p = np.array([mix.sync_sources[t] for t in TRIGGERS])
    session_mult = _user_multipliers(rng, users)
    request_mult = _user_multipliers(rng, users)
    sync_mult = _user_multipliers(rng, users)
    active_p = rng.uniform(*ACTIVE_DAY_PROBABILITY, size=users)
    active = rng.random((users, days)) < active_p[:, None]
    ud_user, ud_day = np.nonzero(active)
    day_start = start.timestamp() + ud_day * 86_400.0

    # sessions and their api calls
    n_sessions = 1 + rng.poisson(max(0.0, model.sessions_per_user_per_day - 1) * session_mult[ud_user])
    s_ud = np.repeat(np.arange(len(ud_user)), n_sessions)
    s_begin = day_start[s_ud] + rng.choice(24, size=len(s_ud), p=hour_p) * 3600.0
    s_begin += rng.random(len(s_ud)) * (3600.0 - SESSION_SPAN_S)
    s_number = _index_within_group(n_sessions)
    n_calls = rng.poisson(model.requests_per_session * request_mult[ud_user[s_ud]])
    if endpoint_p is None:
        n_calls = np.zeros_like(n_calls)
    c_session = np.repeat(np.arange(len(s_ud)), n_calls)
    c_ts = s_begin[c_session] + rng.random(len(c_session)) * SESSION_SPAN_S
    c_endpoint = (
        rng.choice(len(api_specs), size=len(c_session), p=endpoint_p) if endpoint_p is not None
        else np.zeros(0, dtype=np.int64)
    )

    # syncs
    n_syncs = rng.poisson(model.syncs_per_user_per_day * sync_mult[ud_user])
    y_ud = np.repeat(np.arange(len(ud_user)), n_syncs)
    n = len(y_ud)
    y_ts = day_start[y_ud] + rng.choice(24, size=n, p=hour_p) * 3600.0 + rng.random(n) * 3600.0
    y_trigger = rng.choice(len(TRIGGERS), size=n, p=trigger_p)
    heavy = rng.random(n) < model.heavy_share
    mean_bytes = np.where(heavy, model.heavy_payload_kb, model.light_payload_kb) * 1000.0
    # log-normal with the wanted mean: mu = ln(mean) - sigma^2 / 2
    with np.errstate(divide="ignore"):
        sizes = rng.lognormal(np.log(np.maximum(mean_bytes, 1e-9)) - PAYLOAD_SIGMA**2 / 2, PAYLOAD_SIGMA)
    payload = np.where(mean_bytes > 0, np.maximum(1, np.rint(sizes)), 0).astype(np.int64)
    whole = math.floor(model.write_read_ratio)
    writes = whole + (rng.random(n) < model.write_read_ratio - whole).astype(np.int64)
    failed = rng.random(n) < FAILURE_RATE
    finish_ts = y_ts + rng.uniform(*SYNC_DURATION_S, size=n)
    sync_number = np.arange(n)

    def absent(size: int) -> np.ndarray:
        return np.full(size, -1, dtype=np.int64)

    parts = [
        # ts, user, day, kind, aux, endpoint, trigger, outcome, payload, reads, writes
        (s_begin, ud_user[s_ud], ud_day[s_ud], KIND_CODE["session_start"], s_number, absent(len(s_ud)),
         absent(len(s_ud)), absent(len(s_ud)), absent(len(s_ud)), absent(len(s_ud)), absent(len(s_ud))),
        (c_ts, ud_user[s_ud[c_session]], ud_day[s_ud[c_session]], KIND_CODE["api_call"], s_number[c_session],
         c_endpoint, absent(len(c_ts)), absent(len(c_ts)), absent(len(c_ts)), absent(len(c_ts)), absent(len(c_ts))),
        (y_ts, ud_user[y_ud], ud_day[y_ud], KIND_CODE["sync_requested"], sync_number, absent(n), y_trigger,
         absent(n), absent(n), absent(n), absent(n)),
        (finish_ts, ud_user[y_ud], ud_day[y_ud], KIND_CODE["sync_finished"], sync_number, absent(n), y_trigger,
         np.where(failed, OUTCOMES.index("failed"), OUTCOMES.index("succeeded")), np.where(failed, 0, payload),
         np.ones(n, dtype=np.int64), np.where(failed, 0, writes)),
    ]
    columns = []
    for index in range(11):
        columns.append(
            np.concatenate([np.broadcast_to(np.asarray(part[index]), part[0].shape) for part in parts])
        )
    order = np.argsort(columns[0], kind="stable")
    ts, user, day, kind, aux, endpoint, trigger, outcome, payload_col, reads, writes_col = (c[order] for c in columns)
    return BetaColumns(
        ts=ts, user=user.astype(np.int64), day=day.astype(np.int64), kind=kind.astype(np.int64),
        aux=aux.astype(np.int64), endpoint=endpoint.astype(np.int64), trigger=trigger.astype(np.int64),
        outcome=outcome.astype(np.int64), payload_bytes=payload_col.astype(np.int64),
        db_reads=reads.astype(np.int64), db_writes=writes_col.astype(np.int64),
        endpoint_names=tuple(spec.kind for spec in api_specs), users=users, seed=seed,
    )


def events_from_columns(columns: BetaColumns) -> Iterator[TelemetryEvent]:
    """Telemetry rows (with user, session and sync ids) from the columns, in time order."""
    kinds = {code: kind for kind, code in KIND_CODE.items()}
    for ts, user, day, kind, aux, endpoint, trigger, outcome, payload, reads, writes in zip(
        columns.ts.tolist(), columns.user.tolist(), columns.day.tolist(), columns.kind.tolist(),
        columns.aux.tolist(), columns.endpoint.tolist(), columns.trigger.tolist(), columns.outcome.tolist(),
        columns.payload_bytes.tolist(), columns.db_reads.tolist(), columns.db_writes.tolist(),
    ):
        user_id = f"u{user:06d}"
        name = kinds[kind]
        if name in ("session_start", "api_call"):
            yield TelemetryEvent(
                ts, user_id, name, session=f"{user_id}-d{day}-s{aux}",
                endpoint=columns.endpoint_names[endpoint] if name == "api_call" else None,
            )
        elif name == "sync_requested":
            yield TelemetryEvent(ts, user_id, name, sync_id=f"job_{columns.seed}_{aux}", trigger=TRIGGERS[trigger])
        else:
            yield TelemetryEvent(
                ts, user_id, name, sync_id=f"job_{columns.seed}_{aux}", trigger=TRIGGERS[trigger],
                outcome=OUTCOMES[outcome], payload_bytes=payload, db_reads=reads, db_writes=writes,
            )


def generate_beta(
    model: TrafficModel, users: int, days: int, seed: int, start: datetime = DEFAULT_START
) -> Iterator[TelemetryEvent]:
    """Telemetry events of ``users`` beta users over ``days`` days, in time order; same seed, same events."""
    return events_from_columns(generate_beta_columns(model, users, days, seed, start))
