"""sim/queueing/measured.py takes a batch's start from the worker's ``startedAt`` when every job has one, and
falls back to inferring it otherwise (runs recorded before the worker wrote it)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sim.queueing.measured import JobRecord, WorkerPool, load_measured_run, reconstruct_service_times

T0 = 1_700_000_000.0


def _write(path: Path, jobs: list[JobRecord]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps({"run": {"duration_s": 60.0}, "series": {"queue_depth": [[1, 0]]}}))
    (path / "sync_jobs.json").write_text(json.dumps({
        "schema_version": 1, "queue_t0_epoch": T0, "worker": {"processes": 1, "concurrency": 1, "batch_size": 10},
        "jobs": [job.__dict__ for job in jobs]}))
    return path


def _jobs(started: bool) -> list[JobRecord]:
    """Two batches on one poller: both jobs enqueued at t=1, the second received at 4 (its message was invisible
    meanwhile, say), so inference (start = when the poller came free at 2) overstates its service time."""
    def job(name: str, done: float, start: float) -> JobRecord:
        return JobRecord(name, "api", "SUCCEEDED", T0 + 1, T0 + done, 2, received_at=T0 + start if started else None,
                         started_at=T0 + start if started else None)
    return [job("a", 2.0, 1.5), job("b", 4.5, 4.0)]


def test_recorded_batch_starts_are_used(tmp_path: Path) -> None:
    batches = reconstruct_service_times(load_measured_run(_write(tmp_path, _jobs(started=True))))
    assert np.allclose(sorted(batches.durations_s), [0.5, 0.5])


def test_without_them_batch_starts_are_inferred(tmp_path: Path) -> None:
    batches = reconstruct_service_times(load_measured_run(_write(tmp_path, _jobs(started=False))))
    assert np.allclose(sorted(batches.durations_s), [1.0, 2.5])


def test_older_records_without_the_fields_still_load(tmp_path: Path) -> None:
    path = _write(tmp_path, _jobs(started=False))
    document = json.loads((path / "sync_jobs.json").read_text())
    for job in document["jobs"]:
        del job["received_at"], job["started_at"]
    (path / "sync_jobs.json").write_text(json.dumps(document))
    assert np.isnan(load_measured_run(path).started_s).all()
