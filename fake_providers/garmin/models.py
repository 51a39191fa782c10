"""Garmin state and behaviour, without HTTP: OAuth 2.0 PKCE tokens (24 h access, ~90 day rotating refresh),
summaries selected by upload time (activities, activityDetails, dailies, sleeps, bodyComps), pull tokens, backfill,
ping/push notifications."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..core.errors import ControlError, ProviderError
from ..core.faults.base import Delivery
from ..core.heavy import track
from ..core.oauth import TokenPolicy
from ..core.routing import RouteMeta
from ..core.state import ProviderState, User
from ..core.synth import Workout, day_of, day_str, local_midnight, utc_offset
from ..core.util import dumps
from . import errors

MINUTE = 60
SUMMARY_TYPES = ("dailies", "epochs", "sleeps", "bodyComps", "activities", "activityDetails",
                 "manuallyUpdatedActivities", "moveiq", "hrv", "stressDetails", "userMetrics", "pulseOx",
                 "respiration", "healthSnapshot", "bloodPressures", "skinTemp", "thirdPartyDailies")
MODELED = ("dailies", "sleeps", "bodyComps", "activities", "activityDetails")
PERMISSIONS = ["ACTIVITY_EXPORT", "HEALTH_EXPORT", "WORKOUT_IMPORT", "COURSE_IMPORT", "MCT_EXPORT"]


class GarminState(ProviderState):
    provider = "garmin"
    all_scopes = PERMISSIONS
    default_scopes = ["ACTIVITY_EXPORT", "HEALTH_EXPORT"]
    scope_sep = " "

    def provider_defaults(self) -> dict[str, Any]:
        return {"rate_limits": {"enabled": True, "per_minute": 100, "retry_after": None},
                "webhook_attempts": 5, "webhook_retry_backoff_seconds": 0.5}

    def token_policy(self) -> TokenPolicy:
        return TokenPolicy(access_ttl=self.access_ttl(86400), refresh_ttl=7775998, rotate=True, style="uuid")

    def routes(self) -> list[RouteMeta]:
        from .routes import router
        return router.routes

    def reset_provider(self) -> None:
        self.pull_tokens: dict[str, dict] = {}
        self.backfills: set[tuple] = set()
        self._pull_seq = 0

    def new_user_id(self, n: int) -> str:
        h = f"{self.stable('garmin-user', n):016x}{self.stable('garmin-user2', n):016x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def render_error(self, err: ProviderError):
        return errors.render(err)

    def gate(self, request: web.Request, meta: RouteMeta, token: str | None) -> User | None:
        if not meta.auth:
            return None
        rec = self.tokens.peek(token)
        if rec is not None and rec.revoked:
            raise ProviderError(403, "revoked", "Unknown or revoked user token")
        try:
            user, rec = self.check_token(token)
        except ProviderError as e:
            e.detail = {"oauth": False}
            raise
        rl = self.config["rate_limits"]
        if meta.limited and rl["enabled"] and rl["per_minute"]:
            n = self.windows.hit(("user", user.user_id), MINUTE, self.clock.now())
            if n > int(rl["per_minute"]):
                ra = rl["retry_after"]
                raise ProviderError(429, "rate_limited", headers={"Retry-After": str(int(ra))} if ra is not None
                                    else None)
        return user

    # -- pull tokens ----------------------------------------------------------------------------------------------
    def new_pull_token(self, user: User, kind: str = "upload", rng: tuple[float, float] | None = None) -> str:
        self._pull_seq += 1
        tok = f"{self.stable('pull', user.user_id, self._pull_seq):016x}"
        self.pull_tokens[tok] = {"user_id": user.user_id, "kind": kind, "range": rng}
        if len(self.pull_tokens) > 200_000:
            for k in list(self.pull_tokens)[:100_000]:
                del self.pull_tokens[k]
        return tok

    def callback_url(self, user: User, summary_type: str, start: int, end: int, token: str) -> str:
        q = urlencode({"uploadStartTimeInSeconds": start, "uploadEndTimeInSeconds": end, "token": token})
        return f"{self.base_url}/wellness-api/rest/{summary_type}?{q}"

    # -- documents ----------------------------------------------------------------------------------------------
    def activity_summary(self, w: Workout) -> dict:
        doc = {"summaryId": str(w.id), "activityId": w.id, "activityName": w.name,
               "activityType": w.spec.garmin, "startTimeInSeconds": int(w.start),
               "startTimeOffsetInSeconds": w.utc_offset, "durationInSeconds": w.elapsed,
               "distanceInMeters": w.distance, "activeKilocalories": w.calories,
               "averageHeartRateInBeatsPerMinute": int(w.avg_hr or 0), "maxHeartRateInBeatsPerMinute":
                   int(w.max_hr or 0), "averageSpeedInMetersPerSecond": round(w.distance / w.moving, 3)
               if w.moving else 0.0, "deviceName": w.device, "manual": w.manual}
        if w.steps:
            doc["steps"] = w.steps
        if w.elev_gain:
            doc["totalElevationGainInMeters"] = w.elev_gain
        return doc

    def activity_detail_bytes(self, w: Workout, user_id: str) -> bytes:
        target = int(self.config["heavy_bytes"])
        seed = int(self.config["seed"])

        def build(n: int) -> bytes:
            t = track(seed, w, n)
            st0 = int(w.start)
            times, lat, lng, alt = t["time"].tolist(), t["lat"].tolist(), t["lng"].tolist(), t["altitude"].tolist()
            hr, spd, dist, pw = (t["heartrate"].tolist(), t["velocity"].tolist(), t["distance"].tolist(),
                                 t["watts"].tolist())
            cad = t["cadence"].tolist()
            samples = []
            for i in range(len(times)):
                s = {"startTimeInSeconds": st0 + times[i], "heartRate": hr[i], "speedMetersPerSecond": spd[i],
                     "totalDistanceInMeters": dist[i], "timerDurationInSeconds": times[i],
                     "clockDurationInSeconds": times[i], "movingDurationInSeconds": times[i]}
                if w.has_gps:
                    s["latitudeInDegree"] = lat[i]
                    s["longitudeInDegree"] = lng[i]
                    s["elevationInMeters"] = alt[i]
                if w.spec.key in ("ride", "virtual_ride"):
                    s["powerInWatts"] = pw[i]
                    s["bikeCadenceInRPM"] = cad[i]
                elif w.spec.cadence:
                    s["stepsPerMinute"] = cad[i] * 2
                samples.append(s)
            laps = [{"startTimeInSeconds": st0 + times[j]} for j in range(0, len(times),
                                                                           max(1, len(times) // 5))]
            summary = {k: v for k, v in self.activity_summary(w).items() if k not in ("summaryId", "activityId")}
            return dumps({"userId": user_id, "summaryId": f"{w.id}-detail", "activityId": w.id,
                          "summary": summary, "samples": samples, "laps": laps})

        return self.heavy.get(("details", w.id, target), target, build, overhead_key=("details", w.sport,
                                                                                         w.has_gps))

    def daily(self, user: User, day: int, now: float) -> dict | None:
        p = user.profile
        steps = self.synth.steps(p, day, local_midnight(day + 1, p.tz) - 1)
        if steps is None:
            return None
        upload = local_midnight(day + 1, p.tz) + 300 + self.stable("daily-up", user.user_id, day) % 1800
        start = local_midnight(day, p.tz)
        hr = 60 + self.stable("rhr", user.user_id, day) % 15
        return {"upload": upload, "start": start, "doc": {
            "summaryId": f"x{user.seq:x}-{int(start):x}", "calendarDate": day_str(day),
            "startTimeInSeconds": int(start), "startTimeOffsetInSeconds": utc_offset(start, p.tz),
            "activityType": "WALKING", "durationInSeconds": 86400, "steps": steps,
            "distanceInMeters": round(steps * 0.76, 1), "activeTimeInSeconds": int(steps / 100 * 60),
            "activeKilocalories": int(steps * 0.045), "bmrKilocalories": 1650, "floorsClimbed": steps // 1500,
            "minHeartRateInBeatsPerMinute": hr - 8, "averageHeartRateInBeatsPerMinute": hr + 12,
            "maxHeartRateInBeatsPerMinute": hr + 90, "restingHeartRateInBeatsPerMinute": hr, "stepsGoal": 10000}}

    def sleep(self, user: User, day: int, now: float) -> dict | None:
        s = self.synth.sleep(user.profile, day, float("inf"))
        if s is None:
            return None
        dur = {"deep": 0, "light": 0, "rem": 0, "wake": 0}
        levels: dict[str, list] = {"deep": [], "light": [], "rem": [], "awake": []}
        for lv, secs, t0 in s["stages"]:
            dur[lv] += secs
            levels["awake" if lv == "wake" else lv].append({"startTimeInSeconds": int(s["start"] + t0),
                                                            "endTimeInSeconds": int(s["start"] + t0 + secs)})
        return {"upload": s["available_at"], "start": s["start"], "doc": {
            "summaryId": f"x{user.seq:x}-{int(s['start']):x}-sl", "calendarDate": day_str(day),
            "startTimeInSeconds": int(s["start"]), "startTimeOffsetInSeconds": s["offset"],
            "durationInSeconds": s["in_bed_s"], "unmeasurableSleepInSeconds": 0,
            "deepSleepDurationInSeconds": dur["deep"], "lightSleepDurationInSeconds": dur["light"],
            "remSleepInSeconds": dur["rem"], "awakeDurationInSeconds": dur["wake"], "sleepLevelsMap": levels,
            "validation": "ENHANCED_FINAL"}}

    def body_comp(self, user: User, day: int, now: float) -> dict | None:
        wt = self.synth.weight(user.profile, day, float("inf"))
        if wt is None:
            return None
        return {"upload": wt["available_at"], "start": wt["at"], "doc": {
            "summaryId": f"x{user.seq:x}-{wt['at']:x}-bc", "measurementTimeInSeconds": wt["at"],
            "measurementTimeOffsetInSeconds": wt["offset"], "weightInGrams": int(wt["kg"] * 1000),
            "bodyMassIndex": wt["bmi"], "bodyFatInPercent": wt["fat"]}}

    def summaries(self, user: User, summary_type: str, start: float, end: float, by: str = "upload") -> list:
        """Summaries whose upload time (or, for backfill, start time) is in [start, end) and <= now. Activity
        details are returned as raw JSON bytes, others as dicts."""
        now = self.clock.now()
        end_eff = min(end, now + 1) if by == "upload" else end
        if summary_type in ("activities", "activityDetails"):
            if by == "upload":
                ws = [w for w in self.synth.available_between(user.profile, start, end_eff)]
            else:
                ws = [w for w in self.synth.workouts(user.profile, now) if start <= w.start < end]
            if summary_type == "activities":
                return [{"userId": user.user_id, **self.activity_summary(w)} for w in ws]
            return [self.activity_detail_bytes(w, user.user_id) for w in ws]
        fn = {"dailies": self.daily, "sleeps": self.sleep, "bodyComps": self.body_comp}.get(summary_type)
        if fn is None:
            return []
        p = user.profile
        out = []
        for d in range(day_of(start, p.tz) - 2, day_of(end, p.tz) + 1):
            r = fn(user, d, now)
            if r is None or r["upload"] > now or r["start"] < p.history_start:
                continue
            key = r["upload"] if by == "upload" else r["start"]
            if start <= key < end:
                out.append({"userId": user.user_id, **r["doc"]})
        return out

    # -- ping / push ----------------------------------------------------------------------------------------------
    def _post(self, envelope: dict | bytes, users: list[str], kind: str) -> list:
        url = self.webhook_url()
        if not url:
            return []
        raw = envelope if isinstance(envelope, bytes) else dumps(envelope)
        d = Delivery(kind, url, raw, {"Content-Type": "application/json",
                                      "garmin-client-id": str(self.config["client_id"] or "swsim"),
                                      "user-agent": "Garmin Health API"}, users,
                     timeout=float(self.config["webhook_timeout_seconds"] or 30.0),
                     attempts=int(self.config["webhook_attempts"] or 5), expect=(200,))
        return self.emitter.submit(d)

    def notify_summaries(self, user: User, summary_type: str, start: int, end: int, mode: str | None = None,
                         by: str = "upload") -> list:
        mode = mode or self.config["garmin_mode"]
        if mode == "push":
            items = self.summaries(user, summary_type, start, end, by)
            if not items:
                return []
            if summary_type == "activityDetails":
                raw = b'{"activityDetails":[' + b",".join(items) + b"]}"
                return self._post(raw, [user.user_id], "garmin.push")
            return self._post({summary_type: items}, [user.user_id], "garmin.push")
        tok = self.new_pull_token(user, "upload" if by == "upload" else "backfill",
                                  None if by == "upload" else (start, end))
        return self._post({summary_type: [{"userId": user.user_id, "uploadStartTimeInSeconds": start,
                                           "uploadEndTimeInSeconds": end,
                                           "callbackURL": self.callback_url(user, summary_type, start, end, tok)}]},
                          [user.user_id], "garmin.ping")

    def notify_new(self, items: list[tuple[User, Workout]]) -> None:
        by_user: dict[str, list[Workout]] = {}
        for user, w in items:
            by_user.setdefault(user.user_id, []).append(w)
        for uid, ws in by_user.items():
            user = self.users[uid]
            s = int(min(w.available_at for w in ws))
            e = int(max(w.available_at for w in ws)) + 1
            for stype in ("activities", "activityDetails"):
                if stype not in user.disabled:
                    self.notify_summaries(user, stype, s, e)

    def on_revoked(self, user: User, reason: str) -> None:
        if self.webhook_url() and reason != "deregistration":
            self._post({"deregistrations": [{"userId": user.user_id}]}, [user.user_id], "garmin.deregistration")

    def emit(self, user: User, params: dict) -> list:
        if not self.webhook_url():
            raise ControlError("no webhook destination: set webhook_url")
        kind = params.get("kind", "summary")
        if kind == "deregistration":
            return self._post({"deregistrations": [{"userId": user.user_id}]}, [user.user_id],
                              "garmin.deregistration")
        if kind == "permissions":
            perms = params.get("permissions", user.scopes)
            return self._post({"userPermissionsChange": [{"userId": user.user_id, "summaryId": f"x{user.seq:x}",
                                                          "permissions": perms,
                                                          "changeTimeInSeconds": int(self.clock.now())}]},
                              [user.user_id], "garmin.permissions")
        stype = params.get("summary_type", "activities")
        if stype not in SUMMARY_TYPES:
            raise ControlError(f"unknown summary_type {stype!r}; known: {list(SUMMARY_TYPES)}")
        now = int(self.clock.now())
        start = int(params.get("start", now - 86400))
        end = int(params.get("end", now + 1))
        mode = params.get("mode")
        if mode not in (None, "ping", "push"):
            raise ControlError("mode must be ping or push")
        futs = []
        for _ in range(int(params.get("count", 1))):
            futs.extend(self.notify_summaries(user, stype, start, end, mode) or
                        self._post({stype: []}, [user.user_id], "garmin.push"))
        return futs
