"""What SyncWell's clients do, as request builders for the open-model load engine (``scenarios.engine``).

One builder per arrival kind of ``sim.schedule`` (the traffic models' endpoint mix):

- a mobile session's calls: list connections, start a manual sync with an Idempotency-Key and poll it until it
  finishes (its request-to-SUCCEEDED time goes into the ``manual_sync`` histogram), poll a job's status, change
  settings, start and poll an export;
- a device uploader: ``POST /v1/device-upload`` with the model's light or heavy payload size;
- webhook traffic *through the fakes*: the fake provider is asked to emit a notification for the user, and it
  delivers it (signed, for Fitbit) to the API's webhook endpoint like the real provider would.

Builders run inside the Locust processes; what they need (users, their tokens and connections, the fakes' URLs)
comes from a JSON *scenario context* file named by ``SWSIM_SCENARIO_CONTEXT`` (written by ``swsim load``;
see :func:`write_context` for its shape, so a context for a remote target can be written by hand).
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from scenarios.engine.requests import FollowUp, RequestSpec, ResponseInfo
from scenarios.engine.schedule_file import ScheduledEvent

CONTEXT_ENV = "SWSIM_SCENARIO_CONTEXT"
TERMINAL_JOB_STATES = frozenset({"SUCCEEDED", "FAILED", "DEAD_LETTERED"})
SYNC_POLL_INTERVAL_S = 0.5
SYNC_POLL_TIMEOUT_S = 60.0
E2E_POLL_LABEL = "GET /v1/sync-jobs/{jobId} (e2e poll)"
ID_NAMESPACE = uuid.UUID("0b7c52a4-3c1e-4f7e-9a0e-5d0c51f3a9e2")


@dataclass(frozen=True)
class ContextConnection:
    connection_id: str
    provider: str
    provider_user_id: str


@dataclass(frozen=True)
class ContextUser:
    user_id: str
    token: str
    connections: tuple[ContextConnection, ...]
    pairs: tuple[tuple[str, str, str], ...]  # (sourceConnectionId, destinationConnectionId, dataType)

    def connection_for(self, provider: str) -> ContextConnection | None:
        return next((c for c in self.connections if c.provider == provider), None)


@dataclass(frozen=True)
class ScenarioContext:
    users: tuple[ContextUser, ...]
    fake_urls: Mapping[str, str] = field(default_factory=dict)
    seed: int = 1

    def user(self, user_index: int) -> ContextUser:
        # The schedule draws users from the model's DAU; they map onto the seeded users round-robin.
        return self.users[user_index % len(self.users)]


def write_context(path: Path, users: Sequence[ContextUser], fake_urls: Mapping[str, str], seed: int) -> Path:
    """Write the JSON context the builders read: ``{"seed", "fake_urls": {provider: url}, "users": [{"user_id",
    "token", "connections": [{"connection_id", "provider", "provider_user_id"}], "pairs": [[src, dst, type]]}]}``."""
    payload = {"seed": seed, "fake_urls": dict(fake_urls), "users": [asdict(user) for user in users]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)
    return path


def parse_context(data: Mapping[str, Any]) -> ScenarioContext:
    users = tuple(
        ContextUser(user_id=u["user_id"], token=u["token"],
                    connections=tuple(ContextConnection(**c) for c in u.get("connections", ())),
                    pairs=tuple(tuple(p) for p in u.get("pairs", ())))  # type: ignore[misc]
        for u in data["users"])
    if not users:
        raise ValueError("the scenario context has no users")
    return ScenarioContext(users=users, fake_urls=dict(data.get("fake_urls", {})), seed=int(data.get("seed", 1)))


@lru_cache(maxsize=1)
def context() -> ScenarioContext:
    path = os.environ.get(CONTEXT_ENV)
    if not path:
        raise RuntimeError(f"{CONTEXT_ENV} is not set: the SyncWell scenarios need a context file (swsim load "
                           "writes one; see scenarios/syncwell.py)")
    return parse_context(json.loads(Path(path).read_text()))


class _RecentIds:
    """The last job/export id each user got in this process, so status polls ask about real jobs."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def remember(self, user_id: str, job_id: str) -> None:
        with self._lock:
            self._ids[user_id] = job_id

    def get(self, user_id: str) -> str | None:
        with self._lock:
            return self._ids.get(user_id)


RECENT_SYNC_JOBS = _RecentIds()
RECENT_EXPORTS = _RecentIds()


def _auth(user: ContextUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


def _idempotency_key(event: ScheduledEvent, salt: str) -> str:
    """Deterministic per scheduled event, so a replay with the same seed sends the same keys."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{salt}:{event.at_s!r}:{event.user_index}:{event.kind}"))


def _json_headers(user: ContextUser, event: ScheduledEvent, salt: str) -> dict[str, str]:
    return {**_auth(user), "Idempotency-Key": _idempotency_key(event, salt), "Content-Type": "application/json"}


def list_connections(event: ScheduledEvent) -> RequestSpec:
    user = context().user(event.user_index)
    return RequestSpec("GET", "/v1/connections", name="GET /v1/connections", headers=_auth(user))


def _follow_sync_job(followup: FollowUp, response: ResponseInfo) -> None:
    """Poll the accepted job until it ends; its request-to-SUCCEEDED time is the manual sync latency."""
    if response.status != 202:
        return
    job_id = response.json()["jobId"]
    headers = _auth(context().user(followup.event.user_index))
    RECENT_SYNC_JOBS.remember(context().user(followup.event.user_index).user_id, job_id)

    def poll() -> None:
        while followup.elapsed_s() < SYNC_POLL_TIMEOUT_S:
            answer = followup.request(RequestSpec("GET", f"/v1/sync-jobs/{job_id}", name=E2E_POLL_LABEL,
                                                  headers=headers))
            status = answer.json().get("status") if answer.status == 200 else None
            if status == "SUCCEEDED":
                followup.record_latency("manual_sync", followup.elapsed_s())
                return
            if status in TERMINAL_JOB_STATES:
                return
            followup.sleep(SYNC_POLL_INTERVAL_S)

    followup.spawn(poll)


def start_manual_sync(event: ScheduledEvent) -> RequestSpec | None:
    user = context().user(event.user_index)
    if not user.pairs:
        return None
    source, destination, data_type = user.pairs[int(event.at_s * 1000) % len(user.pairs)]
    body = {"sourceConnectionId": source, "destinationConnectionId": destination, "dataType": data_type,
            "mode": "manual", "priority": "high"}
    return RequestSpec("POST", "/v1/sync-jobs", name="POST /v1/sync-jobs", headers=_json_headers(user, event, "sync"),
                       json=body, after=_follow_sync_job)


def poll_sync_job(event: ScheduledEvent) -> RequestSpec | None:
    user = context().user(event.user_index)
    job_id = RECENT_SYNC_JOBS.get(user.user_id)
    if job_id is None:
        return None  # this user has not started a sync in this process yet: nothing real to poll
    return RequestSpec("GET", f"/v1/sync-jobs/{job_id}", name="GET /v1/sync-jobs/{jobId}", headers=_auth(user))


def change_settings(event: ScheduledEvent) -> RequestSpec:
    user = context().user(event.user_index)
    body = {"settings": {"conflictResolutionStrategy": "newest_wins", "notificationsEnabled": bool(event.user_index % 2)}}
    return RequestSpec("PUT", "/v1/users/me/settings", name="PUT /v1/users/me/settings",
                       headers=_json_headers(user, event, "settings"), json=body)


def _canonical_workouts(event: ScheduledEvent, size_bytes: int) -> list[dict[str, Any]]:
    """Device-recorded workouts whose JSON adds up to about ``size_bytes`` (the model's light or heavy size)."""
    base = {"sourceId": f"device-{event.user_index}-{int(event.at_s * 1000)}", "activityType": "RUNNING",
            "startTime": "2026-11-21T07:00:00Z", "durationSeconds": 1800, "distanceMeters": 5000.0,
            "calories": 350, "timezone": "Europe/Berlin"}
    samples_needed = max(0, size_bytes - len(json.dumps(base))) // 12
    return [{**base, "heartRateSamples": [120 + (i % 60) for i in range(samples_needed)]}]


def device_upload(event: ScheduledEvent) -> RequestSpec:
    user = context().user(event.user_index)
    body = {"data": _canonical_workouts(event, event.payload_bytes or 5000)}
    return RequestSpec("POST", "/v1/device-upload", name="POST /v1/device-upload",
                       headers=_json_headers(user, event, "upload"), json=body)


def _remember_export(followup: FollowUp, response: ResponseInfo) -> None:
    if response.status == 202:
        RECENT_EXPORTS.remember(context().user(followup.event.user_index).user_id, response.json()["jobId"])


def start_export(event: ScheduledEvent) -> RequestSpec:
    user = context().user(event.user_index)
    return RequestSpec("POST", "/v1/export-jobs", name="POST /v1/export-jobs",
                       headers=_json_headers(user, event, "export"), json={}, after=_remember_export)


def poll_export(event: ScheduledEvent) -> RequestSpec | None:
    user = context().user(event.user_index)
    job_id = RECENT_EXPORTS.get(user.user_id)
    if job_id is None:
        return None
    return RequestSpec("GET", f"/v1/export-jobs/{job_id}", name="GET /v1/export-jobs/{id}", headers=_auth(user))


def _webhook_through_fake(provider: str) -> Callable[[ScheduledEvent], RequestSpec | None]:
    def emit(event: ScheduledEvent) -> RequestSpec | None:
        ctx = context()
        connection = ctx.user(event.user_index).connection_for(provider)
        fake_url = ctx.fake_urls.get(provider)
        if connection is None or not fake_url:
            return None
        # The fake answers at once and delivers the notification to the API on its own, as the provider would.
        return RequestSpec("POST", f"{fake_url}/_fake/webhooks/emit", name=f"webhook:{provider} (fake emit)",
                           json={"user_id": connection.provider_user_id, "wait": False},
                           headers={"Content-Type": "application/json"})

    emit.__name__ = emit.__qualname__ = f"emit_{provider}_webhook"
    return emit


emit_strava_webhook = _webhook_through_fake("strava")
emit_fitbit_webhook = _webhook_through_fake("fitbit")
emit_garmin_webhook = _webhook_through_fake("garmin")

BUILDERS: dict[str, Callable[[ScheduledEvent], RequestSpec | None]] = {
    "GET /v1/connections": list_connections,
    "POST /v1/sync-jobs": start_manual_sync,
    "GET /v1/sync-jobs/{jobId}": poll_sync_job,
    "PUT /v1/users/me/settings": change_settings,
    "POST /v1/device-upload": device_upload,
    "POST /v1/export-jobs": start_export,
    "GET /v1/export-jobs/{id}": poll_export,
    "webhook:strava": emit_strava_webhook,
    "webhook:fitbit": emit_fitbit_webhook,
    "webhook:garmin": emit_garmin_webhook,
}
