"""Deterministic synthetic health data (Faker for people and places, numpy for tracks in ``heavy``).

Everything is a pure function of (seed, user id, local day), generated lazily and cached per user, so users with
long histories are cheap and thousands of users cost little until they are read. An item becomes visible to the
API when its ``available_at`` (end of the workout plus an upload delay) is <= the fake clock's now: advancing the
clock reveals new items, so repeated syncs find new data."""
from __future__ import annotations

import bisect
import math
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from .util import stable_hash

EPOCH_ORD = date(1970, 1, 1).toordinal()
DAY = 86400
WRITE_BASE = 800_000      # item numbers >= this within a user's id block are items written through the API
ID_BLOCK = 1_000_000


@dataclass(frozen=True)
class Sport:
    key: str
    strava: str          # Strava sport_type / type
    fitbit: str          # Fitbit activityName
    fitbit_type_id: int  # Fitbit activityTypeId
    garmin: str          # Garmin activityType
    speed: float         # m/s (0: no distance)
    minutes: float       # typical duration
    gps: bool
    hr: int              # typical average heart rate
    kcal_min: float      # kcal per minute
    cadence: int         # steps per minute (0: no steps)


SPORTS: dict[str, Sport] = {s.key: s for s in [
    Sport("run", "Run", "Run", 90009, "RUNNING", 2.9, 45, True, 152, 11.0, 165),
    Sport("ride", "Ride", "Bike", 90001, "CYCLING", 7.2, 85, True, 136, 9.0, 0),
    Sport("walk", "Walk", "Walk", 90013, "WALKING", 1.4, 40, True, 104, 4.5, 110),
    Sport("hike", "Hike", "Hike", 90012, "HIKING", 1.1, 130, True, 121, 6.5, 95),
    Sport("swim", "Swim", "Swim", 90024, "LAP_SWIMMING", 0.8, 35, False, 131, 9.5, 0),
    Sport("virtual_ride", "VirtualRide", "Bike", 90001, "INDOOR_CYCLING", 8.0, 50, False, 142, 10.0, 0),
    Sport("weights", "WeightTraining", "Weights", 2131, "STRENGTH_TRAINING", 0.0, 45, False, 112, 5.5, 0),
    Sport("yoga", "Yoga", "Yoga", 52001, "YOGA", 0.0, 50, False, 92, 3.5, 0),
]}

ARCHETYPES: list[tuple[str, dict[str, float], float]] = [  # name, sport weights, activities per day
    ("runner", {"run": 0.75, "walk": 0.1, "weights": 0.1, "yoga": 0.05}, 0.8),
    ("cyclist", {"ride": 0.65, "virtual_ride": 0.2, "run": 0.05, "weights": 0.1}, 0.7),
    ("triathlete", {"run": 0.35, "ride": 0.35, "swim": 0.25, "weights": 0.05}, 1.1),
    ("walker", {"walk": 0.7, "hike": 0.2, "yoga": 0.1}, 0.6),
    ("gym", {"weights": 0.5, "yoga": 0.2, "run": 0.15, "virtual_ride": 0.15}, 0.6),
]

DEVICES = ["Garmin Forerunner 265", "Garmin Edge 840", "Fitbit Charge 6", "Fitbit Sense 2", "Apple Watch Series 9",
           "Wahoo ELEMNT BOLT", "Coros Pace 3", "Garmin fenix 7"]

PART_OF_DAY = [(5, "Early Morning"), (11, "Morning"), (14, "Lunch"), (17, "Afternoon"), (21, "Evening"),
               (24, "Night")]


@lru_cache(maxsize=None)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo("UTC")


def day_of(epoch: float, tz: str) -> int:
    """The user's local calendar day (days since 1970-01-01) at an instant."""
    return datetime.fromtimestamp(epoch, zone(tz)).date().toordinal() - EPOCH_ORD


def local_midnight(day: int, tz: str) -> float:
    return datetime.combine(date.fromordinal(day + EPOCH_ORD), dtime(), tzinfo=zone(tz)).timestamp()


def utc_offset(epoch: float, tz: str) -> int:
    off = datetime.fromtimestamp(epoch, zone(tz)).utcoffset()
    return int(off.total_seconds()) if off else 0


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_local(epoch: float, offset: int, fmt: str = "%Y-%m-%dT%H:%M:%S") -> str:
    return datetime.fromtimestamp(int(epoch) + offset, timezone.utc).strftime(fmt)


def day_str(day: int) -> str:
    return date.fromordinal(day + EPOCH_ORD).isoformat()


def parse_day(s: str) -> int:
    return date.fromisoformat(s).toordinal() - EPOCH_ORD


@dataclass(slots=True)
class Workout:
    id: int
    user_id: str
    day: int
    idx: int
    sport: str
    start: float
    utc_offset: int
    elapsed: int
    moving: int
    distance: float
    elev_gain: float
    avg_hr: float | None
    max_hr: float | None
    calories: int
    steps: int
    has_gps: bool
    lat: float
    lng: float
    name: str
    available_at: float
    device: str
    manual: bool = False
    trainer: bool = False
    commute: bool = False
    external_id: str | None = None
    upload_id: int | None = None
    description: str | None = None
    source: str = "device"          # device | api | upload
    last_modified: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def spec(self) -> Sport:
        return SPORTS.get(self.sport, SPORTS["run"])

    @property
    def end(self) -> float:
        return self.start + self.elapsed


@dataclass
class UserProfile:
    user_id: str
    seq: int
    first_name: str
    last_name: str
    city: str
    country: str
    lat: float
    lng: float
    tz: str
    sex: str
    weight_kg: float
    height_cm: float
    birth_year: int
    archetype: str
    sport_weights: list[tuple[str, float]]
    per_day: float
    pref_hour: float
    fitness: float
    device: str
    base_steps: int
    created_at: float
    history_start: float


class _Timeline:
    __slots__ = ("items", "starts", "from_day", "until_day")

    def __init__(self, from_day: int) -> None:
        self.items: list[Workout] = []
        self.starts: list[float] = []
        self.from_day = from_day
        self.until_day = from_day - 1   # last generated day


class SynthData:
    """Per-fake generator. ``users`` maps user id -> UserProfile (state kept by the provider model)."""

    def __init__(self, seed: int = 42, activities_per_day: float = 1.0, cache_users: int = 4000) -> None:
        self.seed = seed
        self.activities_per_day = activities_per_day
        self._cache_users = cache_users
        self._timelines: OrderedDict[str, _Timeline] = OrderedDict()
        self._days: OrderedDict[tuple, list] = OrderedDict()
        self._faker = None

    def clear_cache(self) -> None:
        self._timelines.clear()
        self._days.clear()

    def day(self, p: UserProfile, day: int) -> list[Workout]:
        """The workouts of one local day (cached)."""
        key = (p.user_id, p.seq, day)
        got = self._days.get(key)
        if got is None:
            got = self._day(p, day)
            self._days[key] = got
            if len(self._days) > 100_000:
                for _ in range(10_000):
                    self._days.popitem(last=False)
        return got

    # -- people ----------------------------------------------------------------------------------------------
    def profile(self, user_id: str, seq: int, now: float, history_days: int) -> UserProfile:
        from faker import Faker  # imported lazily: it is slow to import and only needed here

        if self._faker is None:
            self._faker = Faker()
        fk = self._faker
        fk.seed_instance(stable_hash(self.seed, "profile", user_id))
        rng = random.Random(stable_hash(self.seed, "profile-rng", user_id))
        lat, lng, city, country, tz = fk.location_on_land()
        sex = rng.choice(["M", "F"])
        first = fk.first_name_male() if sex == "M" else fk.first_name_female()
        arch, weights, per_day = ARCHETYPES[rng.randrange(len(ARCHETYPES))]
        height = rng.gauss(178 if sex == "M" else 165, 7)
        bmi = rng.uniform(19.5, 29)
        return UserProfile(
            user_id=user_id, seq=seq, first_name=first, last_name=fk.last_name(), city=city, country=country,
            lat=float(lat), lng=float(lng), tz=tz, sex=sex, weight_kg=round(bmi * (height / 100) ** 2, 1),
            height_cm=round(height, 1), birth_year=rng.randint(1955, 2005), archetype=arch,
            sport_weights=sorted(weights.items()), per_day=per_day * rng.uniform(0.6, 1.4),
            pref_hour=rng.choice([6.5, 7.0, 12.2, 17.5, 18.5]), fitness=rng.uniform(0.8, 1.2),
            device=rng.choice(DEVICES), base_steps=rng.randint(4000, 13000), created_at=now,
            history_start=now - max(0, int(history_days)) * DAY)

    # -- workouts --------------------------------------------------------------------------------------------
    def _day(self, p: UserProfile, day: int) -> list[Workout]:
        rng = random.Random(stable_hash(self.seed, "day", p.user_id, day))
        lam = max(0.0, p.per_day * self.activities_per_day)
        n = _poisson(rng, lam, cap=7)
        if n == 0:
            return []
        midnight = local_midnight(day, p.tz)
        out: list[Workout] = []
        t = midnight + (p.pref_hour + rng.gauss(0, 0.7)) * 3600 if n == 1 else midnight + rng.uniform(5.5, 8) * 3600
        names, weights = zip(*p.sport_weights)
        for i in range(n):
            sport = SPORTS[rng.choices(names, weights)[0]]
            elapsed = int(sport.minutes * 60 * math.exp(rng.gauss(0, 0.35)))
            elapsed = max(600, min(elapsed, 6 * 3600))
            moving = int(elapsed * (rng.uniform(0.86, 0.98) if sport.speed else rng.uniform(0.6, 0.9)))
            speed = sport.speed * p.fitness * math.exp(rng.gauss(0, 0.1))
            distance = round(speed * moving, 1)
            elev = round(distance * rng.uniform(0.0, 0.02), 1) if sport.gps else 0.0
            avg_hr = round(sport.hr * rng.uniform(0.93, 1.07), 1)
            start = float(int(t))
            off = utc_offset(start, p.tz)
            local_hour = ((start + off) % DAY) / 3600
            part = next(name for h, name in PART_OF_DAY if local_hour < h)
            name = f"{part} {_title(sport)}"
            item = (day - 0) * 8 + i
            w = Workout(
                id=(p.seq + 1) * ID_BLOCK + item, user_id=p.user_id, day=day, idx=i, sport=sport.key, start=start,
                utc_offset=off, elapsed=elapsed, moving=moving, distance=distance, elev_gain=elev, avg_hr=avg_hr,
                max_hr=round(avg_hr * rng.uniform(1.08, 1.22)), calories=int(elapsed / 60 * sport.kcal_min * p.fitness),
                steps=int(moving / 60 * sport.cadence * rng.uniform(0.95, 1.05)), has_gps=sport.gps,
                lat=round(p.lat + rng.gauss(0, 0.02), 6), lng=round(p.lng + rng.gauss(0, 0.02), 6), name=name,
                available_at=start + elapsed + rng.uniform(60, 900), device=p.device,
                trainer=sport.key == "virtual_ride", commute=sport.key == "ride" and rng.random() < 0.1)
            w.last_modified = w.available_at
            out.append(w)
            t = start + elapsed + rng.uniform(1800, 4 * 3600)
        return out

    def _timeline(self, p: UserProfile, upto_day: int) -> _Timeline:
        tl = self._timelines.get(p.user_id)
        if tl is None:
            tl = _Timeline(day_of(p.history_start, p.tz) - 1)
            self._timelines[p.user_id] = tl
            if len(self._timelines) > self._cache_users:
                self._timelines.popitem(last=False)
        else:
            self._timelines.move_to_end(p.user_id)
        if tl.until_day < upto_day:
            for d in range(tl.until_day + 1, upto_day + 1):
                for w in self.day(p, d):
                    if w.start >= p.history_start:
                        tl.items.append(w)
                        tl.starts.append(w.start)
            tl.until_day = upto_day
        return tl

    def workouts(self, p: UserProfile, now: float, written: Iterable[Workout] = ()) -> list[Workout]:
        """All workouts visible at ``now``, sorted by start time (oldest first)."""
        tl = self._timeline(p, day_of(now, p.tz) + 1)
        k = bisect.bisect_left(tl.starts, now - 2 * DAY)
        hi = bisect.bisect_right(tl.starts, now)
        out = tl.items[:k]
        out.extend(w for w in tl.items[k:hi] if w.available_at <= now)
        extra = [w for w in written if w.available_at <= now]
        if extra:
            out.extend(extra)
            out.sort(key=lambda w: (w.start, w.id))
        return out

    def workout_by_id(self, p: UserProfile, wid: int, now: float) -> Workout | None:
        item = wid - (p.seq + 1) * ID_BLOCK
        if not 0 <= item < WRITE_BASE:
            return None
        day, idx = divmod(item, 8)
        if day > day_of(now, p.tz) + 1:
            return None
        for w in self.day(p, day):
            if w.idx == idx and w.available_at <= now and w.start >= p.history_start:
                return w
        return None

    def available_between(self, p: UserProfile, start: float, end: float) -> list[Workout]:
        """Generated workouts whose available_at is in [start, end) (Garmin's upload-time windows)."""
        out = []
        for d in range(day_of(start - 8 * 3600, p.tz) - 1, day_of(end, p.tz) + 1):
            for w in self.day(p, d):
                if start <= w.available_at < end and w.start >= p.history_start:
                    out.append(w)
        out.sort(key=lambda w: (w.available_at, w.id))
        return out

    def upcoming(self, p: UserProfile, after: float, horizon_days: int = 14) -> Workout | None:
        """The first generated workout whose available_at is > after (for webhook scheduling)."""
        d0 = day_of(after, p.tz) - 1
        best = None
        for d in range(d0, d0 + horizon_days):
            for w in self.day(p, d):
                if w.available_at > after and w.start >= p.history_start:
                    if best is None or w.available_at < best.available_at:
                        best = w
            if best is not None and d > d0 + 1:
                return best
        return best

    # -- sleep, steps, weight (pure functions of the day) -----------------------------------------------------
    def sleep(self, p: UserProfile, day: int, now: float) -> dict | None:
        """The main sleep ending on local day ``day`` (dateOfSleep), or None (no record / not yet synced)."""
        rng = random.Random(stable_hash(self.seed, "sleep", p.user_id, day))
        if rng.random() < 0.06:
            return None
        wake = local_midnight(day, p.tz) + rng.uniform(5.75, 8.25) * 3600
        in_bed = int(rng.uniform(6.0, 9.0) * 3600) // 30 * 30
        start = wake - in_bed
        if start < p.history_start or wake + 600 > now:
            return None
        stages = []  # (level, seconds)
        t = 0
        while t < in_bed:
            if t == 0:
                level = "light"
            else:
                level = rng.choices(["light", "deep", "rem", "wake"], [0.5, 0.2, 0.22, 0.08])[0]
            secs = min(in_bed - t, int(rng.uniform(3, 40)) * 60 if level != "wake" else int(rng.uniform(1, 6)) * 60)
            stages.append((level, secs, t))
            t += secs
        summary: dict[str, dict] = {lv: {"count": 0, "minutes": 0} for lv in ("deep", "light", "rem", "wake")}
        for level, secs, _ in stages:
            summary[level]["count"] += 1
            summary[level]["minutes"] += secs // 60
        awake = summary["wake"]["minutes"]
        asleep = in_bed // 60 - awake
        return {"id": (p.seq + 1) * ID_BLOCK * 10 + day, "day": day, "start": start, "end": wake,
                "offset": utc_offset(start, p.tz), "in_bed_s": in_bed, "asleep_min": asleep, "awake_min": awake,
                "efficiency": int(100 * asleep / max(1, in_bed // 60)), "stages": stages, "summary": summary,
                "available_at": wake + 600}

    def steps(self, p: UserProfile, day: int, now: float) -> int | None:
        """Steps of local day ``day`` as of ``now`` (partial for today), None before the history or in future."""
        midnight = local_midnight(day, p.tz)
        if midnight >= now or midnight + DAY <= p.history_start:
            return None
        rng = random.Random(stable_hash(self.seed, "steps", p.user_id, day))
        total = int(p.base_steps * math.exp(rng.gauss(0, 0.3)))
        frac = min(1.0, (now - midnight) / DAY)
        return int(total * frac)

    def weight(self, p: UserProfile, day: int, now: float) -> dict | None:
        rng = random.Random(stable_hash(self.seed, "weight", p.user_id, day))
        if rng.random() > 0.45:
            return None
        at = local_midnight(day, p.tz) + rng.uniform(6.5, 8.5) * 3600
        if at > now or at < p.history_start:
            return None
        drift = 0.8 * math.sin(day / 40.0 + (stable_hash(p.user_id) % 100))
        kg = round(p.weight_kg + drift + rng.gauss(0, 0.3), 1)
        fat = round(rng.uniform(14, 30) if p.sex == "M" else rng.uniform(20, 36), 1)
        return {"id": (p.seq + 1) * ID_BLOCK * 10 + 5_000_000 + day, "day": day, "at": int(at),
                "offset": utc_offset(at, p.tz), "kg": kg, "bmi": round(kg / (p.height_cm / 100) ** 2, 2),
                "fat": fat, "available_at": at + 300}


def _poisson(rng: random.Random, lam: float, cap: int) -> int:
    if lam <= 0:
        return 0
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit and k < cap:
        k += 1
        prod *= rng.random()
    return k


def _title(sport: Sport) -> str:
    return {"run": "Run", "ride": "Ride", "walk": "Walk", "hike": "Hike", "swim": "Swim",
            "virtual_ride": "Zwift Ride", "weights": "Weight Training", "yoga": "Yoga"}[sport.key]


def days_range(a: int, b: int) -> range:
    return range(a, b + 1)


__all__ = ["SynthData", "Workout", "UserProfile", "SPORTS", "day_of", "local_midnight", "iso_utc", "iso_local",
           "day_str", "parse_day", "utc_offset", "DAY", "ID_BLOCK", "WRITE_BASE", "timedelta", "Any"]
