"""A measured local run, as the queueing simulator needs it: per-job enqueue and completion times, the worker
pool, and the queue depth sampled during the run.

Recording (``record_sync_jobs``, called by ``swsim load`` after the drain, while the stack still runs): every
``JOB#`` item of the metadata table is read back. The API writes ``createdAt`` (the enqueue instant, the
message's ``requestedAt``) and the worker writes ``completedAt`` and ``status`` in its one BatchWriteItem per
batch with a single ``now``, so jobs sharing a ``completedAt`` finished in the same batch. The worker pool's
size is read from each worker's health endpoint (``concurrency`` poller threads, each processing one batch at a
time). All of it goes to ``sync_jobs.json`` in the run directory (format below), beside ``summary.json`` whose
``series.queue_depth`` holds the sampled SQS depth (visible + delayed) in seconds since ``queue_t0_epoch``.

``sync_jobs.json`` (``schema_version`` 1): ``queue_t0_epoch`` (epoch s of the queue series' t=0),
``worker`` {``processes``, ``concurrency`` (total pollers),
``batch_size``}, ``jobs``: list of {``job_id``, ``origin``, ``status``, ``created_at``, ``completed_at``
(null unless SUCCEEDED), ``version`` (writes of the item: more than 1 means it was retried), ``received_at`` and
``started_at`` (null when the worker did not record them: runs before it did)}.

The worker writes ``receivedAt`` (its first receive of the job) and ``startedAt`` (when the batch that finished
the job was received) with ``completedAt``. When every succeeded job has ``startedAt``, a batch's service time is
measured (completion - its start); otherwise it is reconstructed (``reconstruct_service_times``) from the
batches' completions and enqueues under the model's own assumptions (a free poller takes the oldest message at
once). That is stated in every report.
"""
from __future__ import annotations

import heapq
import json
import math
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from sim.errors import UsageError

SYNC_JOBS_FILE = "sync_jobs.json"
SCHEMA_VERSION = 1
DEFAULT_BATCH_SIZE = 10  # stack/defaults.yaml worker.batch_size
DEFAULT_TABLE = "SyncWellMetadata"  # stack/launcher/stack.py TABLE_NAME


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    origin: str
    status: str
    created_at: float
    completed_at: float | None
    version: int
    received_at: float | None = None
    started_at: float | None = None


@dataclass(frozen=True)
class WorkerPool:
    processes: int
    concurrency: int  # batches in progress at once, over all worker processes
    batch_size: int


@dataclass(frozen=True)
class MeasuredRun:
    """A run directory's measurements, times in seconds since ``t0_epoch`` (the queue sampler's start)."""

    run_dir: Path
    t0_epoch: float
    worker: WorkerPool
    arrivals_s: np.ndarray  # every job's enqueue time, sorted
    end_to_end_s: np.ndarray  # per job in arrival order, -1 if it did not succeed
    completed_s: np.ndarray  # per job in arrival order, nan if it did not succeed
    queue_time_s: np.ndarray  # queue depth samples (visible + delayed messages)
    queue_depth: np.ndarray
    duration_s: float  # the load run's duration (summary.json run.duration_s)
    started_s: np.ndarray | None = None  # per job in arrival order, its batch's receive instant; nan if unrecorded

    @property
    def succeeded(self) -> int:
        return int(np.count_nonzero(self.end_to_end_s >= 0))


# ------------------------------------------------------------------------------------------------ recording


def record_sync_jobs(aws_env: Mapping[str, str], out_dir: Path, *, queue_t0_epoch: float,
                     worker_health_urls: Sequence[str], table: str = DEFAULT_TABLE) -> Path:
    """Read back the jobs created since ``queue_t0_epoch`` and the worker pool, write ``sync_jobs.json``."""
    items = _scan_jobs(aws_env, table)
    jobs = [job for job in (_job_record(item) for item in items)
            if job is not None and job.created_at >= queue_t0_epoch - 1.0]
    document = {
        "schema_version": SCHEMA_VERSION,
        "queue_t0_epoch": queue_t0_epoch,
        "worker": _worker_pool(worker_health_urls).__dict__,
        "jobs": [job.__dict__ for job in sorted(jobs, key=lambda j: j.created_at)],
    }
    path = out_dir / SYNC_JOBS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(path)
    return path


def _scan_jobs(aws_env: Mapping[str, str], table: str) -> list[dict[str, Any]]:
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    client = boto3.session.Session(
        aws_access_key_id=aws_env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=aws_env.get("AWS_DEFAULT_REGION", "us-east-1"),
    ).client("dynamodb", endpoint_url=aws_env.get("AWS_ENDPOINT_URL_DYNAMODB") or aws_env.get("AWS_ENDPOINT_URL"))
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table, "FilterExpression": "begins_with(SK, :job)",
        "ExpressionAttributeValues": {":job": {"S": "JOB#"}},
        "ProjectionExpression": "jobId, origin, #s, createdAt, completedAt, version, receivedAt, startedAt",
        "ExpressionAttributeNames": {"#s": "status"},
    }
    while True:
        page = client.scan(**kwargs)
        items.extend({k: deserializer.deserialize(v) for k, v in raw.items()} for raw in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _job_record(item: Mapping[str, Any]) -> JobRecord | None:
    if "createdAt" not in item:
        return None
    status = str(item.get("status", ""))
    completed = item.get("completedAt")
    return JobRecord(
        job_id=str(item.get("jobId", "")), origin=str(item.get("origin", "")), status=status,
        created_at=float(item["createdAt"]),
        completed_at=float(completed) if completed is not None and status == "SUCCEEDED" else None,
        version=int(item.get("version") or 0),
        received_at=_optional_float(item.get("receivedAt")), started_at=_optional_float(item.get("startedAt")),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _worker_pool(health_urls: Sequence[str]) -> WorkerPool:
    concurrency = 0
    for url in health_urls:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                concurrency += int(json.loads(response.read()).get("concurrency", 0))
        except (OSError, ValueError):  # a worker that does not answer adds nothing; validate warns on 0
            continue
    return WorkerPool(processes=len(health_urls), concurrency=concurrency, batch_size=DEFAULT_BATCH_SIZE)


# ------------------------------------------------------------------------------------------------ loading


def load_measured_run(run_dir: Path) -> MeasuredRun:
    """Read ``summary.json`` and ``sync_jobs.json`` of a ``swsim load`` run directory."""
    summary_path, jobs_path = run_dir / "summary.json", run_dir / SYNC_JOBS_FILE
    if not summary_path.is_file():
        raise UsageError(f"{run_dir} is not a run directory: no summary.json (write one with swsim load --out DIR)")
    if not jobs_path.is_file():
        raise UsageError(f"{run_dir} has no {SYNC_JOBS_FILE}: it was recorded by an older swsim load, or against a "
                         "target without AWS access; re-run swsim load against the embedded stack or --stack-state")
    try:
        summary = json.loads(summary_path.read_text())
        document = json.loads(jobs_path.read_text())
        t0 = float(document["queue_t0_epoch"])
        worker = WorkerPool(**document["worker"])
        jobs = [JobRecord(**job) for job in document["jobs"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the run in {run_dir}: {exc}") from exc
    return measured_from_records(run_dir, t0, worker, jobs, summary.get("series", {}).get("queue_depth", []),
                                 float(summary.get("run", {}).get("duration_s") or 0.0))


def measured_from_records(run_dir: Path, t0_epoch: float, worker: WorkerPool, jobs: Iterable[JobRecord],
                          queue_depth: Sequence[Sequence[float]], duration_s: float) -> MeasuredRun:
    ordered = sorted(jobs, key=lambda j: j.created_at)
    arrivals = np.array([j.created_at - t0_epoch for j in ordered], dtype=np.float64)
    completed = np.array([math.nan if j.completed_at is None else j.completed_at - t0_epoch for j in ordered])
    e2e = np.where(np.isnan(completed), -1.0, completed - arrivals)
    started = np.array([math.nan if j.started_at is None else j.started_at - t0_epoch for j in ordered])
    samples = np.array([(float(t), float(v)) for t, v in queue_depth if v is not None and v >= 0]).reshape(-1, 2)
    return MeasuredRun(run_dir=run_dir, t0_epoch=t0_epoch, worker=worker, arrivals_s=arrivals,
                       end_to_end_s=e2e, completed_s=completed, queue_time_s=samples[:, 0],
                       queue_depth=samples[:, 1], duration_s=duration_s, started_s=started)


# ------------------------------------------------------------------------------------------------ service times


@dataclass(frozen=True)
class ReconstructedBatches:
    sizes: np.ndarray  # jobs per batch
    durations_s: np.ndarray  # batch start (reconstructed) to its completion
    per_job_ms: np.ndarray  # each batch's duration less the overhead, split over its jobs: per-job draws
    overhead_ms: float  # per-batch fixed time (least squares of duration on batch size; 0 when not identifiable)
    recorded: bool = False  # True: starts are the worker's startedAt; False: inferred under the model's assumption


def reconstruct_service_times(run: MeasuredRun) -> ReconstructedBatches:
    """Batches are the succeeded jobs sharing a completion instant. A batch starts at its jobs' ``startedAt``
    (the worker's receive of the batch) when every job has one. Otherwise it starts when its last job was enqueued
    or when one of the ``concurrency`` pollers came free, whichever is later (pollers are handed out in order of
    the batches' earliest possible start, each to the poller that freed first): what the simulator assumes, so
    a reconstructed service time holds the real per-batch work plus SQS's delivery delay, never queueing."""
    ok = run.end_to_end_s >= 0
    if not np.any(ok):
        raise UsageError(f"{run.run_dir}: no job succeeded in the run; nothing to take service times from")
    completions, inverse, sizes = np.unique(run.completed_s[ok], return_inverse=True, return_counts=True)
    recorded = run.started_s is not None and not np.any(np.isnan(run.started_s[ok]))
    if recorded:
        # Recorded by the worker: the batch's receive instant, no inference needed.
        start_at = np.full(completions.size, np.inf)
        np.minimum.at(start_at, inverse, run.started_s[ok])
        durations = completions - np.minimum(start_at, completions)
    else:
        durations = _inferred_durations(run, completions, inverse, ok)
    overhead = batch_overhead_s(sizes, durations)
    per_job = np.repeat(np.maximum(durations - overhead, 0.0) / sizes, sizes) * 1000.0
    return ReconstructedBatches(sizes=sizes, durations_s=durations, per_job_ms=np.maximum(per_job, 0.01),
                                overhead_ms=overhead * 1000.0, recorded=bool(recorded))


def _inferred_durations(run: MeasuredRun, completions: np.ndarray, inverse: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """A batch's start when the worker recorded none: its last job's enqueue or a poller coming free."""
    latest_enqueue = np.full(completions.size, -np.inf)
    np.maximum.at(latest_enqueue, inverse, run.arrivals_s[ok])
    order = np.argsort(latest_enqueue, kind="stable")
    free_at = [-math.inf] * max(run.worker.concurrency, 1)
    durations = np.empty(completions.size)
    for index in order:
        start = max(latest_enqueue[index], heapq.heappop(free_at))
        start = min(start, completions[index])  # clock skew between processes cannot make a duration negative
        durations[index] = completions[index] - start
        heapq.heappush(free_at, completions[index])
    return durations


def batch_overhead_s(sizes: np.ndarray, durations: np.ndarray) -> float:
    """The intercept of duration = overhead + per_job x size. The worker batches its I/O (one BatchGetItem,
    one BatchWriteItem, one DeleteMessageBatch per batch), so a batch of 10 costs far less than 10 batches of
    one; splitting durations evenly would make the simulator's large batches too slow. Needs batches of at
    least two sizes; clipped to [0, the median duration of the smallest batches]."""
    if sizes.size < 5 or np.unique(sizes).size < 2:
        return 0.0
    slope, intercept = np.polyfit(sizes.astype(np.float64), durations, 1)
    if slope <= 0:  # bigger batches no slower: all overhead would be the fit; keep the even split instead
        return 0.0
    return float(np.clip(intercept, 0.0, np.median(durations[sizes == sizes.min()])))
