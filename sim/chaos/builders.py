"""The SyncWell request builders (scenarios/syncwell.py), plus a record of every job the API accepted.

Each 202 of ``POST /v1/sync-jobs`` and ``POST /v1/device-upload`` appends ``userId jobId`` to the file named by
``SWSIM_CHAOS_ACCEPTED_FILE``, so the ledger invariant knows exactly which jobs must end SUCCEEDED or in the DLQ.
The builders run inside the load engine's Locust processes; one short O_APPEND write per line keeps lines whole
across processes.
"""
from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path
from typing import Callable

from scenarios import syncwell
from scenarios.engine.requests import FollowUp, RequestSpec, ResponseInfo
from scenarios.engine.schedule_file import ScheduledEvent

ACCEPTED_FILE_ENV = "SWSIM_CHAOS_ACCEPTED_FILE"
RUN_ID_ENV = "SWSIM_CHAOS_RUN_ID"
KEY_NAMESPACE = uuid.UUID("5f0c3a9e-8d7b-4e21-9c55-0a4b7e1d2c36")
After = Callable[[FollowUp, ResponseInfo], None]


def _record_accepted(followup: FollowUp, response: ResponseInfo) -> None:
    path = os.environ.get(ACCEPTED_FILE_ENV)
    if response.status != 202 or not path:
        return
    job_id = response.json().get("jobId")
    user_id = syncwell.context().user(followup.event.user_index).user_id
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{user_id} {job_id}\n".encode())
    finally:
        os.close(fd)


def _recording(after: After | None) -> After:
    def hook(followup: FollowUp, response: ResponseInfo) -> None:
        _record_accepted(followup, response)
        if after is not None:
            after(followup, response)

    return hook


def _per_run(spec: RequestSpec) -> RequestSpec:
    """The same Idempotency-Key in two runs on one stack would replay the first run's job (same jobId): mix the
    run id in, so each run's jobs are its own (still deterministic for a given run id)."""
    headers = dict(spec.headers or {})
    if "Idempotency-Key" in headers:
        run_id = os.environ.get(RUN_ID_ENV, "")
        headers["Idempotency-Key"] = str(uuid.uuid5(KEY_NAMESPACE, f"{run_id}:{headers['Idempotency-Key']}"))
    return dataclasses.replace(spec, headers=headers, after=_recording(spec.after))


def start_manual_sync(event: ScheduledEvent) -> RequestSpec | None:
    spec = syncwell.start_manual_sync(event)
    return None if spec is None else _per_run(spec)


def device_upload(event: ScheduledEvent) -> RequestSpec | None:
    return _per_run(syncwell.device_upload(event))


BUILDERS = {**syncwell.BUILDERS, "POST /v1/sync-jobs": start_manual_sync, "POST /v1/device-upload": device_upload}


def read_accepted(path: Path) -> list[tuple[str, str]]:
    """(userId, jobId) of every accepted job, in acceptance order, without repeats."""
    if not path.exists():
        return []
    seen: dict[tuple[str, str], None] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            seen[(parts[0], parts[1])] = None
    return list(seen)
