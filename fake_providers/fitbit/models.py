"""Fitbit state and behaviour, without HTTP: token policy (8 h access tokens, single-use refresh tokens), per-user
hourly rate limit, documents (activity logs, TCX, sleep, steps, weight), writes, subscriptions and signed
notifications."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..core.errors import ControlError, ProviderError
from ..core.faults.base import Delivery
from ..core.heavy import track
from ..core.oauth import TokenPolicy
from ..core.ratelimit import Windows
from ..core.routing import RouteMeta
from ..core.state import ProviderState, User
from ..core.synth import SPORTS, Workout, day_str, iso_local, local_midnight, utc_offset
from ..core.util import dumps
from . import errors
from ..core.routing import RL

HOUR = 3600
ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTVWXYZ"
TCX_SPORT = {"run": "Running", "ride": "Biking", "virtual_ride": "Biking", "walk": "Other", "hike": "Other",
             "swim": "Other", "weights": "Other", "yoga": "Other"}
COLLECTIONS = ("activities", "body", "foods", "sleep", "userRevokedAccess", "deleteUser")
SPORT_BY_TYPE_ID = {s.fitbit_type_id: s.key for s in SPORTS.values()}
SPORT_BY_NAME = {s.fitbit.lower(): s.key for s in SPORTS.values()}


def fitbit_time(epoch: float, offset: int, with_offset: bool = True) -> str:
    s = iso_local(epoch, offset) + ".000"
    if not with_offset:
        return s
    sign = "+" if offset >= 0 else "-"
    return f"{s}{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def sign(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new((secret + "&").encode(), raw, hashlib.sha1).digest()).decode()


class FitbitState(ProviderState):
    provider = "fitbit"
    all_scopes = ["activity", "heartrate", "location", "nutrition", "profile", "settings", "sleep", "social",
                  "weight", "oxygen_saturation", "respiratory_rate", "temperature", "cardio_fitness",
                  "electrocardiogram", "irregular_rhythm_notifications"]
    default_scopes = ["activity", "heartrate", "location", "profile", "settings", "sleep", "weight"]
    scope_sep = " "

    def provider_defaults(self) -> dict[str, Any]:
        return {"rate_limits": {"enabled": True, "per_hour": 150, "retry_after": None},
                "webhook_batch_size": 50}

    def token_policy(self) -> TokenPolicy:
        return TokenPolicy(access_ttl=self.access_ttl(28800), refresh_ttl=None,
                           rotate=bool(self.config["rotate_refresh_tokens"]), style="jwt")

    def routes(self) -> list[RouteMeta]:
        from .routes import router
        return router.routes

    def new_user_id(self, n: int) -> str:
        h = self.stable("fitbit-user", n)
        out = ""
        for _ in range(6):
            h, r = divmod(h, len(ALPHABET))
            out += ALPHABET[r]
        return out

    def render_error(self, err: ProviderError):
        return errors.render(err)

    # -- gate: Content-Length for writes, token, scope, then the per-user hourly window ----------------------
    def gate(self, request: web.Request, meta: RouteMeta, token: str | None) -> User | None:
        if request.method == "POST" and "Content-Length" not in request.headers and meta.kind != "oauth":
            raise ProviderError(411, "length_required", "Length Required")
        if not meta.auth:
            return None
        try:
            user, rec = self.check_token(token)
        except ProviderError as e:
            e.detail = {"token": token or ""}
            raise
        if meta.scope and meta.scope not in rec.scopes:
            raise ProviderError(403, "missing_scope", detail={"scope": meta.scope})
        rl = self.config["rate_limits"]
        if meta.limited and rl["enabled"]:
            now = self.clock.now()
            n = self.windows.hit(("user", user.user_id), HOUR, now)
            request[RL] = n
            if n > int(rl["per_hour"]):
                ra = rl["retry_after"]
                if ra == -1:
                    ra = Windows.seconds_to_reset(now, HOUR)
                raise ProviderError(429, "rate_limited", headers={"Retry-After": str(int(ra))} if ra is not None
                                    else None)
        return user

    def decorate(self, request, meta, response, user, err) -> None:
        if not (request.path.startswith("/1/") or request.path.startswith("/1.2/")):
            return
        uid = user.user_id if user is not None else self.peek_user(_bearer(request))
        if uid is None:
            return
        now = self.clock.now()
        limit = int(self.config["rate_limits"]["per_hour"])
        used = request.get(RL)
        if used is None:
            used = self.windows.usage(("user", uid), HOUR, now)
        if err is not None and err.kind == "rate_limited" and isinstance(err.detail, dict) and err.detail.get("storm"):
            used = max(used, limit)
        h = response.headers
        h["Fitbit-Rate-Limit-Limit"] = str(limit)
        h["Fitbit-Rate-Limit-Remaining"] = str(max(0, limit - used))
        h["Fitbit-Rate-Limit-Reset"] = str(Windows.seconds_to_reset(now, HOUR))

    # -- documents ---------------------------------------------------------------------------------------------
    def profile_json(self, user: User) -> dict:
        p = user.profile
        return {"user": {"encodedId": user.user_id, "displayName": f"{p.first_name} {p.last_name[:1]}.",
                         "firstName": p.first_name, "lastName": p.last_name, "fullName": f"{p.first_name} "
                         f"{p.last_name}", "gender": "MALE" if p.sex == "M" else "FEMALE",
                         "dateOfBirth": f"{p.birth_year}-06-15", "height": p.height_cm, "weight": p.weight_kg,
                         "timezone": p.tz, "offsetFromUTCMillis": utc_offset(self.clock.now(), p.tz) * 1000,
                         "locale": "en_US", "memberSince": day_str(int(p.history_start // 86400)),
                         "averageDailySteps": p.base_steps, "strideLengthRunning": 110.0,
                         "strideLengthWalking": 75.0, "distanceUnit": "METRIC", "weightUnit": "METRIC"}}

    def reset_provider(self) -> None:
        self._docs: dict[tuple, dict] = {}
        self._local: dict[int, str] = {}

    def clear_caches(self) -> None:
        self._docs.clear()
        self._local.clear()

    def local_start(self, w: Workout) -> str:
        """The workout's local start "yyyy-MM-ddTHH:mm:ss" (cached: list filters compare it for every item)."""
        s = self._local.get(w.id)
        if s is None:
            s = iso_local(w.start, w.utc_offset)
            if len(self._local) > 200_000:
                self._local.clear()
            self._local[w.id] = s
        return s

    def activity_json(self, w: Workout, base_url: str) -> dict:
        key = (w.id, w.last_modified, base_url)
        doc = self._docs.get(key)
        if doc is None:
            doc = self._activity_json(w, base_url)
            if len(self._docs) > 50_000:
                self._docs.clear()
            self._docs[key] = doc
        return doc

    def _activity_json(self, w: Workout, base_url: str) -> dict:
        sport = w.spec
        km = round(w.distance / 1000.0, 5)
        log_type = "manual" if w.manual else ("mobile_run" if sport.key == "run" and w.device == "API" else
                                              "tracker" if w.has_gps or sport.key in ("run", "walk") else
                                              "auto_detected")
        doc: dict[str, Any] = {
            "activeDuration": w.moving * 1000, "activityName": w.extra.get("activityName", sport.fitbit),
            "activityTypeId": sport.fitbit_type_id, "activityLevel": [
                {"minutes": w.elapsed // 600, "name": "sedentary"}, {"minutes": w.elapsed // 300, "name": "lightly"},
                {"minutes": w.elapsed // 240, "name": "fairly"}, {"minutes": w.elapsed // 120, "name": "very"}],
            "calories": w.calories, "duration": w.elapsed * 1000, "hasActiveZoneMinutes": not w.manual,
            "hasGps": w.has_gps, "lastModified": datetime.fromtimestamp(int(w.last_modified), timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"),
            "logId": w.id, "logType": log_type, "originalDuration": w.elapsed * 1000,
            "originalStartTime": fitbit_time(w.start, w.utc_offset), "startTime": fitbit_time(w.start, w.utc_offset),
            "steps": w.steps, "source": ({"id": "228VSR", "name": w.device, "type": "tracker",
                                         "url": "https://www.fitbit.com/", "trackerFeatures": ["GPS", "HEARTRATE"]}
                                        if not w.manual else {"id": "swsim-app", "name": "API", "type": "app",
                                                              "url": "https://example.invalid"}),
            "tcxLink": f"{base_url}/1/user/-/activities/{w.id}.tcx",
            "heartRateLink": f"{base_url}/1/user/-/activities/heart/date/{iso_local(w.start, w.utc_offset)[:10]}/"
                             f"1d/1sec/time/00:00/23:59.json",
            "manualValuesSpecified": {"calories": w.manual, "distance": w.manual, "steps": False},
        }
        if w.distance:
            doc.update({"distance": km, "distanceUnit": "Kilometer",
                        "speed": round(km / (w.moving / 3600.0), 4) if w.moving else 0,
                        "pace": round(w.moving / km, 3) if km else 0})
        if w.avg_hr is not None and not w.manual:
            doc["averageHeartRate"] = int(w.avg_hr)
            doc["heartRateZones"] = [{"max": 97, "min": 30, "minutes": 2, "name": "Out of Range"},
                                     {"max": 135, "min": 97, "minutes": w.elapsed // 180, "name": "Fat Burn"},
                                     {"max": 164, "min": 135, "minutes": w.elapsed // 120, "name": "Cardio"},
                                     {"max": 220, "min": 164, "minutes": w.elapsed // 900, "name": "Peak"}]
        return doc

    def tcx_bytes(self, w: Workout) -> bytes:
        target = int(self.config["heavy_bytes"])
        seed = int(self.config["seed"])

        def build(n: int) -> bytes:
            t = track(seed, w, n)
            off = w.utc_offset
            times = [fitbit_time(w.start + int(x), off) for x in t["time"].tolist()]
            lat, lng, alt, dist, hr = (t["lat"].tolist(), t["lng"].tolist(), t["altitude"].tolist(),
                                       t["distance"].tolist(), t["heartrate"].tolist())
            n_pts = len(times)
            lap_len = max(1, n_pts // max(1, min(50, int(w.distance // 1000) or 1)))
            parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                     '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">'
                     f'<Activities><Activity Sport="{TCX_SPORT.get(w.sport, "Other")}"><Id>{times[0]}</Id>']
            for a in range(0, n_pts, lap_len):
                b = min(n_pts, a + lap_len)
                secs = int(t["time"][b - 1] - t["time"][a]) or 1
                parts.append(f'<Lap StartTime="{times[a]}"><TotalTimeSeconds>{secs}.0</TotalTimeSeconds>'
                             f'<DistanceMeters>{dist[b - 1] - dist[a]:.1f}</DistanceMeters>'
                             f'<Calories>{int(w.calories * (b - a) / n_pts)}</Calories><Intensity>Active</Intensity>'
                             '<TriggerMethod>Manual</TriggerMethod><Track>')
                for i in range(a, b):
                    pos = (f"<Position><LatitudeDegrees>{lat[i]}</LatitudeDegrees><LongitudeDegrees>{lng[i]}"
                           "</LongitudeDegrees></Position>") if w.has_gps else ""
                    parts.append(f"<Trackpoint><Time>{times[i]}</Time>{pos}<AltitudeMeters>{alt[i]}</AltitudeMeters>"
                                 f"<DistanceMeters>{dist[i]}</DistanceMeters><HeartRateBpm><Value>{hr[i]}</Value>"
                                 "</HeartRateBpm></Trackpoint>")
                parts.append("</Track></Lap>")
            parts.append(f'<Creator xsi:type="Device_t" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
                         f'<Name>{w.device}</Name><UnitId>0</UnitId><ProductID>0</ProductID></Creator>'
                         '</Activity></Activities></TrainingCenterDatabase>')
            return "".join(parts).encode()

        return self.heavy.get(("tcx", w.id, target, w.last_modified), target, build,
                              overhead_key=("tcx", w.has_gps))

    def sleep_json(self, user: User, s: dict) -> dict:
        off = s["offset"]
        data = [{"dateTime": fitbit_time(s["start"] + t0, off, False), "level": lv, "seconds": secs}
                for lv, secs, t0 in s["stages"]]
        summary = {lv: {**v, "thirtyDayAvgMinutes": v["minutes"]} for lv, v in s["summary"].items()}
        return {"dateOfSleep": day_str(s["day"]), "duration": s["in_bed_s"] * 1000, "efficiency": s["efficiency"],
                "endTime": fitbit_time(s["end"], off, False), "infoCode": 0, "isMainSleep": True,
                "levels": {"data": data, "shortData": [], "summary": summary}, "logId": s["id"],
                "logType": "auto_detected", "minutesAfterWakeup": 0, "minutesAsleep": s["asleep_min"],
                "minutesAwake": s["awake_min"], "minutesToFallAsleep": 0,
                "startTime": fitbit_time(s["start"], off, False), "timeInBed": s["in_bed_s"] // 60, "type": "stages"}

    def sleeps(self, user: User, d0: int, d1: int) -> list[dict]:
        now = self.clock.now()
        out = []
        for d in range(d0, d1 + 1):
            s = self.synth.sleep(user.profile, d, now)
            if s is not None:
                out.append(s)
        return out

    def weights(self, user: User, d0: int, d1: int, pounds: bool = False) -> list[dict]:
        now = self.clock.now()
        out = []
        for d in range(d0, d1 + 1):
            wt = self.synth.weight(user.profile, d, now)
            if wt is not None:
                out.append({"bmi": wt["bmi"], "date": day_str(d), "fat": wt["fat"], "logId": wt["id"] * 1000,
                            "source": "Aria", "time": iso_local(wt["at"], wt["offset"])[11:],
                            "weight": wt["kg"]})
        for wl in user.weights:
            if d0 <= wl["day"] <= d1:
                out.append({k: v for k, v in wl.items() if k != "day"})
        out.sort(key=lambda x: (x["date"], x["time"]))
        if pounds:
            out = [{**x, "weight": round(x["weight"] * 2.20462, 1)} for x in out]
        return out

    # -- webhooks ---------------------------------------------------------------------------------------------
    def _subscription_id(self, user: User, collection: str) -> str | None:
        sub = user.subscriptions.get(collection) or user.subscriptions.get("all")
        if sub:
            return sub["subscriptionId"]
        if self.config["webhook_require_subscription"]:
            return None
        return f"{user.user_id}-{collection}"

    def _entry(self, user: User, collection: str, date: str) -> dict | None:
        sid = self._subscription_id(user, collection)
        if sid is None:
            return None
        return {"collectionType": collection, "date": date, "ownerId": user.user_id, "ownerType": "user",
                "subscriptionId": sid}

    def _send(self, entries: list[dict], users: list[str]) -> list:
        url = self.webhook_url()
        if not url or not entries:
            return []
        futs = []
        size = max(1, int(self.config["webhook_batch_size"]))
        for i in range(0, len(entries), size):
            chunk = entries[i:i + size]
            raw = dumps(chunk)
            d = Delivery("fitbit.notification", url, raw,
                         {"Content-Type": "application/json", "X-Fitbit-Signature": sign(raw, self.signing_secret()),
                          "User-Agent": "Fitbit-Subscriber-Notifier"},
                         sorted({e["ownerId"] for e in chunk}),
                         timeout=float(self.config["webhook_timeout_seconds"] or 5.0),
                         attempts=int(self.config["webhook_attempts"] or 3), expect=(204,))
            futs.extend(self.emitter.submit(d))
        return futs

    def notify_new(self, items: list[tuple[User, Workout]]) -> None:
        seen, entries = set(), []
        for user, w in items:
            date = iso_local(w.start, w.utc_offset)[:10]
            if (user.user_id, date) in seen:
                continue
            seen.add((user.user_id, date))
            e = self._entry(user, "activities", date)
            if e:
                entries.append(e)
        self._send(entries, [])

    def notify_collection(self, user: User, collection: str, date: str) -> None:
        e = self._entry(user, collection, date)
        if e:
            self._send([e], [user.user_id])

    def on_revoked(self, user: User, reason: str) -> None:
        self.notify_collection(user, "userRevokedAccess", iso_local(self.clock.now(), 0)[:10])

    def emit(self, user: User, params: dict) -> list:
        if not self.webhook_url():
            raise ControlError("no webhook destination: set webhook_url")
        collection = params.get("collection", params.get("collectionType", "activities"))
        if collection not in COLLECTIONS:
            raise ControlError(f"unknown collection {collection!r}; known: {list(COLLECTIONS)}")
        date = params.get("date") or iso_local(self.clock.now(), utc_offset(self.clock.now(), user.profile.tz))[:10]
        sid = params.get("subscription_id") or self._subscription_id(user, collection) or f"{user.user_id}-{collection}"
        entry = {"collectionType": collection, "date": date, "ownerId": user.user_id, "ownerType": "user",
                 "subscriptionId": sid}
        return self._send([entry] * int(params.get("count", 1)), [user.user_id])

    async def verify_subscriber(self, params: dict) -> dict:
        """Fitbit's subscriber verification: GET ?verify=<correct code> must answer 204, GET ?verify=<wrong code>
        must answer 404."""
        import aiohttp
        url = params.get("url") or self.webhook_url()
        if not url:
            raise ControlError("no subscriber URL: pass url or set webhook_url")
        code = params.get("code") or self.config["verify_code"]
        wrong = params.get("wrong_code") or (code + "-wrong")
        sep = "&" if "?" in url else "?"
        results = {}
        for label, c in (("correct", code), ("incorrect", wrong)):
            try:
                assert self.emitter.session is not None
                async with self.emitter.session.get(f"{url}{sep}verify={c}",
                                                    timeout=aiohttp.ClientTimeout(total=5)) as r:
                    results[label] = r.status
            except Exception as exc:
                results[label] = f"error: {exc!r}"
        verified = results["correct"] == 204 and results["incorrect"] == 404
        return {"verified": verified, "correct_status": results["correct"],
                "incorrect_status": results["incorrect"], "url": url}

    # -- writes -----------------------------------------------------------------------------------------------
    def log_activity(self, user: User, p: dict) -> Workout:
        type_id, name = p.get("activityId"), p.get("activityName")
        if not type_id and not name:
            raise errors.validation("Either activityId or activityName must be specified", "activityId")
        if name and not type_id and p.get("manualCalories") in (None, ""):
            raise errors.validation("manualCalories is required with activityName", "manualCalories")
        for f in ("startTime", "durationMillis", "date"):
            if p.get(f) in (None, ""):
                raise errors.validation(f"{f} is required", f)
        try:
            dur = int(float(p["durationMillis"])) // 1000
            hh, mm = str(p["startTime"]).split(":")[:2]
            d = datetime.strptime(str(p["date"]), "%Y-%m-%d")
            local = d.replace(hour=int(hh), minute=int(mm), tzinfo=timezone.utc).timestamp()
            dist_km = float(p.get("distance") or 0)
        except (ValueError, TypeError):
            raise errors.validation("Invalid startTime, durationMillis, date or distance", "startTime") from None
        if p.get("distanceUnit", "").lower() in ("mile", "miles"):
            dist_km *= 1.609344
        sport = SPORT_BY_TYPE_ID.get(int(type_id), "run") if type_id else SPORT_BY_NAME.get(str(name).lower(), "run")
        off = utc_offset(local, user.profile.tz)
        cal = int(float(p.get("manualCalories") or dur / 60 * SPORTS[sport].kcal_min))
        return self.new_written_workout(
            user, sport=sport, start=local - off, utc_offset=off, elapsed=dur, moving=dur, distance=dist_km * 1000,
            calories=cal, name=str(name or SPORTS[sport].fitbit), manual=True, source="api",
            extra={"activityName": str(name) if name else SPORTS[sport].fitbit})

    def log_weight(self, user: User, p: dict) -> dict:
        if p.get("weight") in (None, ""):
            raise errors.validation("weight is required", "weight")
        if p.get("date") in (None, ""):
            raise errors.validation("date is required", "date")
        try:
            kg = float(p["weight"])
            day = int(datetime.strptime(str(p["date"]), "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
                      // 86400)
        except ValueError:
            raise errors.validation("Invalid weight or date", "weight") from None
        time_s = str(p.get("time") or "23:59:59")
        entry = {"bmi": round(kg / (user.profile.height_cm / 100) ** 2, 2), "date": str(p["date"]),
                 "logId": user.next_write_id() * 1000, "source": "API", "time": time_s, "weight": kg, "day": day}
        user.weights.append(entry)
        return entry


def _bearer(request) -> str | None:
    from ..core.oauth import bearer
    return bearer(request.headers.get("Authorization"))


def local_day_bounds(user: User, day: int) -> tuple[float, float]:
    return local_midnight(day, user.profile.tz), local_midnight(day + 1, user.profile.tz)
