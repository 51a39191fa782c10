"""Strava state and behaviour, without HTTP: token policy, per-application rate limits (15-minute and daily
windows, overall and read), JSON documents of athletes/activities/streams, uploads, push subscription, events."""
from __future__ import annotations

import gzip
import re
from datetime import datetime, timezone
from typing import Any

import numpy as np
from aiohttp import web

from ..core.errors import ProviderError
from ..core.faults.base import Delivery
from ..core.heavy import encode_polyline, shape, track
from ..core.oauth import TokenPolicy
from ..core.ratelimit import Windows
from ..core.routing import RouteMeta
from ..core.state import ProviderState, User
from ..core.synth import SPORTS, Workout, iso_local, iso_utc
from ..core.util import dumps
from . import errors
from ..core.routing import RL

FIFTEEN = 900
DAY = 86400
STREAM_KEYS = ["time", "latlng", "distance", "altitude", "velocity_smooth", "heartrate", "cadence", "watts",
               "moving", "grade_smooth"]
UPLOAD_TYPES = {"fit", "fit.gz", "tcx", "tcx.gz", "gpx", "gpx.gz"}
SPORT_BY_STRAVA = {s.strava: s.key for s in SPORTS.values()}


def athlete_id(user_id: str) -> Any:
    return int(user_id) if user_id.isdigit() else user_id


class StravaState(ProviderState):
    provider = "strava"
    all_scopes = ["read", "read_all", "profile:read_all", "profile:write", "activity:read", "activity:read_all",
                  "activity:write"]
    default_scopes = list(all_scopes)
    scope_sep = ","

    def provider_defaults(self) -> dict[str, Any]:
        return {"rate_limits": {"enabled": True, "overall_15min": 200, "overall_daily": 2000, "read_15min": 100,
                                "read_daily": 1000, "retry_after": None}}

    def token_policy(self) -> TokenPolicy:
        return TokenPolicy(access_ttl=self.access_ttl(21600), refresh_ttl=None,
                           rotate=bool(self.config["rotate_refresh_tokens"]), style="hex40")

    def routes(self) -> list[RouteMeta]:
        from .routes import router
        return router.routes

    def reset_provider(self) -> None:
        self.subscription: dict | None = None
        self.uploads: dict[int, dict] = {}
        self.upload_hashes: dict[tuple[str, str], int] = {}
        self._upload_seq = 0
        self._summaries: dict[int, dict] = {}
        self._shapes: dict[int, tuple] = {}
        from collections import OrderedDict
        self._details: OrderedDict[tuple, bytes] = OrderedDict()

    def clear_caches(self) -> None:
        self._summaries.clear()
        self._shapes.clear()
        self._details.clear()

    def new_user_id(self, n: int) -> str:
        return str(10_000_000 + self.stable("athlete", n) % 89_999_999)

    def render_error(self, err: ProviderError):
        return errors.render(err)

    # -- gate: rate limit (per application), then token, then scope -------------------------------------------
    def _app_key(self, token: str | None) -> str:
        rec = self.tokens.peek(token)
        return rec.client_id if rec is not None else "_anonymous"

    def _limits(self) -> tuple[int, int, int, int]:
        rl = self.config["rate_limits"]
        return (int(rl["overall_15min"]), int(rl["overall_daily"]), int(rl["read_15min"]), int(rl["read_daily"]))

    def _usage(self, app: str, now: float) -> tuple[int, int, int, int]:
        w = self.windows
        return (w.usage((app, "all"), FIFTEEN, now), w.usage((app, "all"), DAY, now),
                w.usage((app, "read"), FIFTEEN, now), w.usage((app, "read"), DAY, now))

    def gate(self, request: web.Request, meta: RouteMeta, token: str | None) -> User | None:
        if meta.limited and self.config["rate_limits"]["enabled"]:
            now = self.clock.now()
            app = self._app_key(token)
            w = self.windows
            is_read = meta.kind == "read"
            u15 = w.hit((app, "all"), FIFTEEN, now)
            ud = w.hit((app, "all"), DAY, now)
            r15 = w.hit((app, "read"), FIFTEEN, now) if is_read else w.usage((app, "read"), FIFTEEN, now)
            rd = w.hit((app, "read"), DAY, now) if is_read else w.usage((app, "read"), DAY, now)
            request[RL] = (u15, ud, r15, rd)
            l15, ld, lr15, lrd = self._limits()
            if u15 > l15 or ud > ld or (is_read and (r15 > lr15 or rd > lrd)):
                ra = self.config["rate_limits"]["retry_after"]
                if ra == "auto" or ra == -1:
                    ra = Windows.seconds_to_reset(now, FIFTEEN if (u15 > l15 or r15 > lr15) else DAY)
                raise ProviderError(429, "rate_limited", headers={"Retry-After": str(int(ra))} if ra is not None
                                    else None)
        if not meta.auth:
            return None
        user, rec = self.check_token(token)
        if meta.scope:
            need = meta.scope.split("|")
            if not any(s in rec.scopes for s in need):
                field = {"activity:write": "activity:write_permission", "profile:write": "profile:write_permission",
                         "profile:read_all": "profile:read_permission"}.get(need[0], "activity:read_permission")
                raise errors.missing_scope(field)
        return user

    def decorate(self, request, meta, response, user, err) -> None:
        if not request.path.startswith("/api/v3"):
            return
        l15, ld, lr15, lrd = self._limits()
        usage = request.get(RL)
        if usage is None:
            usage = self._usage(self._app_key(request.get("token") or _bearer(request)), self.clock.now())
        u15, ud, r15, rd = usage
        if err is not None and err.kind == "rate_limited" and isinstance(err.detail, dict) and err.detail.get("storm"):
            u15, r15 = max(u15, l15), max(r15, lr15)
        h = response.headers
        h["X-RateLimit-Limit"] = f"{l15},{ld}"
        h["X-RateLimit-Usage"] = f"{u15},{ud}"
        h["X-ReadRateLimit-Limit"] = f"{lr15},{lrd}"
        h["X-ReadRateLimit-Usage"] = f"{r15},{rd}"

    # -- documents ---------------------------------------------------------------------------------------------
    def athlete_json(self, user: User, detailed: bool = True) -> dict:
        p = user.profile
        created = iso_utc(p.created_at - 86400 * 400)
        doc = {"id": athlete_id(user.user_id), "username": f"{p.first_name}{p.last_name}".lower()[:20],
               "resource_state": 3 if detailed else 2, "firstname": p.first_name, "lastname": p.last_name,
               "bio": None, "city": p.city, "state": None, "country": p.country, "sex": p.sex, "premium": False,
               "summit": False, "created_at": created, "updated_at": iso_utc(self.clock.now()), "badge_type_id": 0,
               "weight": user.extra.get("weight", p.weight_kg),
               "profile_medium": "https://example.invalid/avatar/medium.png",
               "profile": "https://example.invalid/avatar/large.png", "friend": None, "follower": None}
        if detailed:
            doc.update({"follower_count": 0, "friend_count": 0, "measurement_preference": "meters", "ftp": None,
                        "clubs": [], "bikes": [], "shoes": []})
        return doc

    def _small_track(self, w: Workout, n: int) -> dict:
        return track(int(self.config["seed"]), w, n)

    def _shape(self, w: Workout) -> tuple[np.ndarray, np.ndarray]:
        """A 64-point outline of the route (cached): the summary polyline and, interpolated, the detailed one."""
        got = self._shapes.get(w.id)
        if got is None:
            got = shape(int(self.config["seed"]), w, 64)
            if len(self._shapes) > 50_000:
                self._shapes.clear()
            self._shapes[w.id] = got
        return got

    def _polyline(self, w: Workout, n: int, max_chars: int | None = None) -> str:
        lat, lng = self._shape(w)
        if n != len(lat):
            x = np.linspace(0, len(lat) - 1, n)
            xp = np.arange(len(lat))
            lat, lng = np.interp(x, xp, lat), np.interp(x, xp, lng)
        return encode_polyline(lat, lng, max_chars)

    def summary_json(self, w: Workout) -> dict:
        cached = self._summaries.get(w.id)
        if cached is not None and cached.get("_lm") == w.last_modified:
            return cached["doc"]
        sport = w.spec
        off = w.utc_offset
        sign = "+" if off >= 0 else "-"
        tz = f"(GMT{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}) {self.users[w.user_id].profile.tz}"
        if w.has_gps:
            lat, lng = self._shape(w)
            poly = self._polyline(w, 40)
            start_ll = [float(lat[0]), float(lng[0])]
            end_ll = [float(lat[-1]), float(lng[-1])]
        else:
            poly, start_ll, end_ll = "", [], []
        avg_speed = round(w.distance / w.moving, 3) if w.moving and w.distance else 0
        doc = {
            "resource_state": 2, "athlete": {"id": athlete_id(w.user_id), "resource_state": 1}, "name": w.name,
            "distance": w.distance, "moving_time": w.moving, "elapsed_time": w.elapsed,
            "total_elevation_gain": w.elev_gain, "type": sport.strava, "sport_type": sport.strava,
            "workout_type": None, "id": w.id, "start_date": iso_utc(w.start),
            "start_date_local": iso_local(w.start, off) + "Z", "timezone": tz, "utc_offset": float(off),
            "location_city": None, "location_state": None,
            "location_country": self.users[w.user_id].profile.country, "achievement_count": 0, "kudos_count": 0,
            "comment_count": 0, "athlete_count": 1, "photo_count": 0,
            "map": {"id": f"a{w.id}", "summary_polyline": poly, "resource_state": 2}, "trainer": w.trainer,
            "commute": w.commute, "manual": w.manual, "private": False, "visibility": "everyone", "flagged": False,
            "gear_id": None, "start_latlng": start_ll, "end_latlng": end_ll, "average_speed": avg_speed,
            "max_speed": round(avg_speed * 1.6, 3), "has_heartrate": w.avg_hr is not None and not w.manual,
            "average_heartrate": None if w.manual else w.avg_hr, "max_heartrate": None if w.manual else w.max_hr,
            "heartrate_opt_out": False, "display_hide_heartrate_option": not w.manual,
            "elev_high": round(60 + w.elev_gain / 2, 1) if w.has_gps else None,
            "elev_low": 50.0 if w.has_gps else None, "upload_id": w.upload_id,
            "upload_id_str": str(w.upload_id) if w.upload_id else None, "external_id": w.external_id,
            "from_accepted_tag": False, "pr_count": 0, "total_photo_count": 0, "has_kudoed": False,
        }
        if sport.key in ("ride", "virtual_ride"):
            doc["kilojoules"] = round(w.calories * 1.0, 1)
            doc["average_watts"] = round(200 * w.spec.speed / 7.2, 1)
            doc["device_watts"] = sport.key == "virtual_ride"
        if len(self._summaries) > 20000:
            self._summaries.clear()
        self._summaries[w.id] = {"_lm": w.last_modified, "doc": doc}
        return doc

    def detail_bytes(self, w: Workout) -> bytes:
        """The detailed activity, its map.polyline sized so the document is about ``light_bytes``."""
        target = int(self.config["light_bytes"])
        key = (w.id, target, w.last_modified)
        got = self._details.get(key)
        if got is not None:
            self._details.move_to_end(key)
            return got
        doc = dict(self.summary_json(w))
        doc["resource_state"] = 3
        doc["description"] = w.description
        doc["calories"] = float(w.calories)
        doc["device_name"] = w.device
        doc["embed_token"] = f"{self.stable('embed', w.id):016x}"
        doc["segment_efforts"] = []
        doc["splits_metric"] = _splits(w)
        doc["laps"] = [{"id": w.id * 10 + 1, "resource_state": 2, "name": "Lap 1",
                        "activity": {"id": w.id, "resource_state": 1},
                        "athlete": {"id": athlete_id(w.user_id), "resource_state": 1},
                        "elapsed_time": w.elapsed, "moving_time": w.moving, "start_date": iso_utc(w.start),
                        "start_date_local": iso_local(w.start, w.utc_offset) + "Z", "distance": w.distance,
                        "average_speed": doc["average_speed"], "max_speed": doc["max_speed"], "lap_index": 1,
                        "split": 1, "start_index": 0, "end_index": max(0, w.elapsed - 1),
                        "total_elevation_gain": w.elev_gain}]
        doc["gear"] = None
        doc["photos"] = {"primary": None, "count": 0}
        doc["available_zones"] = []
        m = dict(doc["map"])
        m["resource_state"] = 3
        m["polyline"] = ""
        doc["map"] = m
        body = dumps(doc)
        room = target - len(body)
        if w.has_gps and room > 0:
            # every point takes >= 2 characters: room // 2 points always fill it; keep the whole points that fit
            m["polyline"] = self._polyline(w, max(2, room // 2), max_chars=room)
            body = dumps(doc)
        self._details[key] = body
        if len(self._details) > 8192:
            self._details.popitem(last=False)
        return body

    def streams_bytes(self, w: Workout, keys: list[str], key_by_type: bool, resolution: str | None,
                      series_type: str) -> bytes:
        target = int(self.config["heavy_bytes"])
        keys = [k for k in keys if k in STREAM_KEYS]
        if "distance" not in keys:
            keys.append("distance")
        if not w.has_gps:
            keys = [k for k in keys if k not in ("latlng", "altitude", "grade_smooth")]
        if w.manual:
            return dumps({} if key_by_type else [])
        keys = [k for k in STREAM_KEYS if k in keys]

        def build(n: int) -> bytes:
            t = self._small_track(w, n)
            size = len(t["time"])
            data: dict[str, Any] = {}
            for k in keys:
                if k == "latlng":
                    data[k] = np.ascontiguousarray(np.stack([t["lat"], t["lng"]], axis=1))
                elif k == "velocity_smooth":
                    data[k] = t["velocity"]
                elif k == "moving":
                    data[k] = t["velocity"] > 0.3
                elif k == "grade_smooth":
                    d = np.diff(t["altitude"], prepend=t["altitude"][0])
                    dd = np.maximum(np.diff(t["distance"], prepend=0.0), 0.1)
                    data[k] = np.clip(d / dd * 100, -30, 30).round(1)
                else:
                    data[k] = t[k]
            res = {"low": "low", "medium": "medium"}.get(resolution or "", "high")
            if key_by_type:
                body: Any = {k: {"data": v, "series_type": series_type, "original_size": size, "resolution": res}
                             for k, v in data.items()}
            else:
                body = [{"type": k, "data": v, "series_type": series_type, "original_size": size,
                         "resolution": res} for k, v in data.items()]
            return dumps(body)

        if resolution in ("low", "medium"):
            return build(100 if resolution == "low" else 1000)
        kt = tuple(keys)
        return self.heavy.get(("streams", w.id, kt, key_by_type, target, series_type), target, build,
                              overhead_key=("streams", kt, key_by_type, w.has_gps), min_n=2)

    # -- writes -----------------------------------------------------------------------------------------------
    def create_activity(self, user: User, params: dict) -> Workout:
        name = params.get("name")
        sport_type = params.get("sport_type") or params.get("type")
        start_local = params.get("start_date_local")
        elapsed = params.get("elapsed_time")
        if not name:
            raise errors.bad_request("Activity", "name", "missing")
        if not sport_type:
            raise errors.bad_request("Activity", "sport_type", "missing")
        if not start_local:
            raise errors.bad_request("Activity", "start_date_local", "missing")
        if elapsed in (None, ""):
            raise errors.bad_request("Activity", "elapsed_time", "missing")
        try:
            elapsed_s = int(float(elapsed))
            distance = float(params.get("distance") or 0)
        except ValueError:
            raise errors.bad_request("Activity", "elapsed_time", "invalid") from None
        try:
            local = datetime.fromisoformat(str(start_local).replace("Z", "+00:00")).replace(tzinfo=timezone.utc)
        except ValueError:
            raise errors.bad_request("Activity", "start_date_local", "invalid") from None
        from ..core.synth import utc_offset
        guess = local.timestamp()
        off = utc_offset(guess, user.profile.tz)
        start = guess - off
        sport = SPORT_BY_STRAVA.get(str(sport_type), "run")
        return self.new_written_workout(
            user, sport=sport, start=start, utc_offset=off, elapsed=elapsed_s, moving=elapsed_s, distance=distance,
            name=str(name), description=params.get("description"), manual=True,
            trainer=_truthy(params.get("trainer")), commute=_truthy(params.get("commute")), source="api",
            extra={"sport_type": str(sport_type)})

    def create_upload(self, user: User, params: dict) -> dict:
        f = params.get("file")
        if not isinstance(f, dict):
            raise errors.bad_request("Upload", "file", "not a file")
        data_type = str(params.get("data_type") or "").lower()
        if data_type not in UPLOAD_TYPES:
            raise errors.bad_request("Upload", "data_type", "invalid")
        now = self.clock.now()
        self._upload_seq += 1
        uid = (user.seq + 1) * 1_000_000 + 900_000 + self._upload_seq
        content: bytes = f["content"]
        ext_id = params.get("external_id") or f.get("filename") or f"upload-{uid}.{data_type}"
        import hashlib
        digest = hashlib.sha256(content).hexdigest()
        rec = {"id": uid, "user_id": user.user_id, "external_id": ext_id, "created_at": now,
               "ready_at": now + float(self.config["upload_processing_seconds"] or 0), "error": None,
               "activity_id": None, "data_type": data_type}
        dup = self.upload_hashes.get((user.user_id, digest))
        if dup is not None:
            rec["error"] = f"{f.get('filename') or ext_id} duplicate of activity {dup}"
        else:
            start, elapsed = _parse_times(content, data_type)
            if start is None:
                start, elapsed = now - 3600, 3600
            sport_type = params.get("sport_type") or params.get("activity_type") or "Run"
            sport = SPORT_BY_STRAVA.get(str(sport_type).capitalize(), SPORT_BY_STRAVA.get(str(sport_type), "run"))
            from ..core.synth import utc_offset
            w = self.new_written_workout(
                user, sport=sport, start=start, utc_offset=utc_offset(start, user.profile.tz), elapsed=elapsed,
                moving=elapsed, distance=float(elapsed) * SPORTS[sport].speed, name=params.get("name") or
                f"{SPORTS[sport].strava} upload", description=params.get("description"), manual=False,
                has_gps=True, trainer=_truthy(params.get("trainer")),
                commute=_truthy(params.get("commute")), external_id=ext_id, upload_id=uid, source="upload",
                available_at=rec["ready_at"], avg_hr=140.0, max_hr=170.0)
            rec["activity_id"] = w.id
            self.upload_hashes[(user.user_id, digest)] = w.id
        self.uploads[uid] = rec
        return rec

    def upload_json(self, rec: dict) -> dict:
        now = self.clock.now()
        ready = now >= rec["ready_at"]
        if not ready:
            status, err, aid = "Your activity is still being processed.", None, None
        elif rec["error"]:
            status, err, aid = "There was an error processing your activity.", rec["error"], None
        else:
            status, err, aid = "Your activity is ready.", None, rec["activity_id"]
        return {"id": rec["id"], "id_str": str(rec["id"]), "external_id": rec["external_id"], "error": err,
                "status": status, "activity_id": aid}

    # -- webhooks ---------------------------------------------------------------------------------------------
    def webhook_url(self) -> str | None:
        if self.subscription:
            return self.subscription["callback_url"]
        return self.config["webhook_url"]

    def _event(self, user: User, object_type: str, object_id: Any, aspect: str, updates: dict | None = None) -> dict:
        return {"aspect_type": aspect, "event_time": int(self.clock.now()), "object_id": object_id,
                "object_type": object_type, "owner_id": athlete_id(user.user_id),
                "subscription_id": self.subscription["id"] if self.subscription else 1, "updates": updates or {}}

    def _send(self, user: User, event: dict) -> list:
        url = self.webhook_url()
        if not url:
            return []
        d = Delivery("strava.event", url, dumps(event), {"Content-Type": "application/json",
                                                        "User-Agent": "Strava-Webhooks"}, [user.user_id],
                     timeout=float(self.config["webhook_timeout_seconds"] or 2.0),
                     attempts=int(self.config["webhook_attempts"] or 3), expect=(200,), meta={"event": event})
        return self.emitter.submit(d)

    def notify_new(self, items: list[tuple[User, Workout]]) -> None:
        for user, w in items:
            self._send(user, self._event(user, "activity", w.id, "create"))

    def notify_written(self, user: User, w: Workout) -> None:
        if self.webhook_url():
            self._send(user, self._event(user, "activity", w.id, "create"))

    def on_revoked(self, user: User, reason: str) -> None:
        if self.webhook_url():
            self._send(user, self._event(user, "athlete", athlete_id(user.user_id), "update",
                                         {"authorized": "false"}))

    def emit(self, user: User, params: dict) -> list:
        if not self.webhook_url():
            from ..core.errors import ControlError
            raise ControlError("no webhook destination: create a push subscription or set webhook_url")
        object_type = params.get("object_type", "activity")
        aspect = params.get("aspect_type", "create")
        updates = params.get("updates") or {}
        object_id = params.get("object_id")
        if object_id is None:
            if object_type == "athlete":
                object_id = athlete_id(user.user_id)
            else:
                ws = self.workouts(user)
                object_id = ws[-1].id if ws else user.next_write_id()
        futs = []
        for _ in range(int(params.get("count", 1))):
            futs.extend(self._send(user, self._event(user, object_type, object_id, aspect, updates)))
        return futs


def _bearer(request) -> str | None:
    from ..core.oauth import bearer
    return bearer(request.headers.get("Authorization"))


def _truthy(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def _splits(w: Workout) -> list[dict]:
    if not w.distance:
        return []
    n = int(w.distance // 1000) + (1 if w.distance % 1000 else 0)
    per = w.moving / max(1.0, w.distance / 1000)
    out = []
    for i in range(min(n, 60)):
        d = min(1000.0, w.distance - i * 1000)
        out.append({"distance": round(d, 1), "elapsed_time": int(per * d / 1000), "elevation_difference": 0.0,
                    "moving_time": int(per * d / 1000), "split": i + 1,
                    "average_speed": round(d / max(1, per * d / 1000), 2), "pace_zone": 0})
    return out


_TIME_RE = re.compile(rb"<(?:Time|time)>([^<]+)</(?:Time|time)>")


def _parse_times(content: bytes, data_type: str) -> tuple[float | None, int]:
    try:
        if data_type.endswith(".gz"):
            content = gzip.decompress(content)
        if data_type.startswith("fit"):
            return None, 0
        times = _TIME_RE.findall(content[:2_000_000])
        if not times:
            return None, 0
        t0 = datetime.fromisoformat(times[0].decode().replace("Z", "+00:00")).timestamp()
        t1 = datetime.fromisoformat(times[-1].decode().replace("Z", "+00:00")).timestamp()
        return t0, max(1, int(t1 - t0))
    except Exception:
        return None, 0
