"""``swsim load``: replay a traffic model against the SyncWell backend and judge the SLO gates.

The run, in order: the arrival schedule from the model (``sim.schedule``); the target (the embedded stack started
here, a running one found by its state file, or any deployment by URL with a scenario context file); the open-model
run (``scenarios.engine``) with the SyncWell behaviours (``scenarios.syncwell``) while a sampler reads the queue and
DLQ depths; a drain so every accepted job has time to finish; then gates (``reports.gates``) and reports
(``reports.writer``). The exit code is the gates' verdict: 0 pass, 1 a gate failed (2 for usage/setup errors is
raised as ``SwsimError`` and mapped by the CLI).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from reports.gates import GateReport, GateSet, evaluate_gates
from reports.result import RunResult
from reports.writer import ReportPaths, write_reports
from scenarios.syncwell import BUILDERS, CONTEXT_ENV, ContextConnection, ContextUser, write_context
from sim.errors import SetupError, UsageError
from sim.models import get_model
from sim.schedule import build_rate_profile, generate_arrivals

SYNC_SUBMIT_ENDPOINTS = ("POST /v1/sync-jobs", "POST /v1/device-upload")
TOKEN_TTL_MARGIN_S = 3600
# Strava limits per application (200 / 15 min by default): SyncWell at scale runs under a raised limit, so the
# embedded fake gets one sized for the replay; Fitbit's and Garmin's limits are per user and stay as published.
STRAVA_APP_LIMITS = {"overall_15min": 1_000_000, "overall_daily": 10_000_000, "read_15min": 1_000_000,
                     "read_daily": 10_000_000}


@dataclass
class LoadOptions:
    model: str = "nominal"
    dau: int | None = 2000
    compress: float | None = 144.0
    duration_s: float = 120.0
    seed: int = 1
    out_dir: Path = Path("runs/load")
    target: str | None = None          # a running deployment's base URL; None starts the embedded stack
    stack_state: Path | None = None    # a stack started by ``swsim up`` (its state dir or state.json)
    context_file: Path | None = None   # users and tokens for a remote target
    users: int = 100                   # users the embedded stack seeds
    history_days: int = 7              # provider history each seeded user already has (older data is cold path)
    workers: int = 0                   # Locust worker processes started here (0: one local process)
    expect_workers: int = 0            # Locust workers started elsewhere that connect to this master
    master_bind: str = "127.0.0.1"     # where the master listens for those workers
    master_port: int = 0
    pool_size: int = 400
    window_s: float = 10.0
    gates: GateSet = field(default_factory=GateSet)
    drain_timeout_s: float = 60.0
    sample_interval_s: float = 2.0
    stack_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class LoadOutcome:
    result: RunResult
    gate_report: GateReport
    paths: ReportPaths
    series: dict[str, list[tuple[float, float]]]

    @property
    def exit_code(self) -> int:
        return self.gate_report.exit_code


def schedule_for(options: LoadOptions) -> list[Any]:
    model = get_model(options.model, dau=options.dau)
    profile = build_rate_profile(model, compression=options.compress, duration_s=options.duration_s)
    return list(generate_arrivals(profile, seed=options.seed))


@dataclass
class Target:
    """Where the load goes and what we can observe there (AWS access is optional for remote targets)."""

    api_url: str
    context_file: Path
    aws_env: Mapping[str, str] | None = None
    queue_names: tuple[str, str] = ("HotPathSyncQueue", "HotPathSyncDLQ")
    worker_health_urls: tuple[str, ...] = ()  # their ``concurrency`` is the pool size capacity validate needs


@contextlib.contextmanager
def open_target(options: LoadOptions) -> Iterator[Target]:
    """The embedded stack (started and stopped here), a stack from its state file, or a URL with a context."""
    context_path = options.out_dir / "scenario-context.json"
    if options.target:
        if options.context_file is None:
            raise UsageError("--target needs --context FILE: the users, tokens and connections the scenarios use "
                             "(format in scenarios/syncwell.py, write_context)")
        if not options.context_file.is_file():
            raise UsageError(f"context file {options.context_file} does not exist")
        yield Target(options.target.rstrip("/"), options.context_file)
        return
    if options.stack_state is not None:
        yield _target_from_state(options, context_path)
        return
    from stack.launcher import Stack
    from stack.launcher.stack import StackStartError

    print(f"starting the embedded stack with {options.users} users ...", file=sys.stderr, flush=True)
    try:
        fake_config = {"history_days": options.history_days,
                       "providers": {"strava": {"rate_limits": STRAVA_APP_LIMITS}}}
        stack_options = {"fake_config": fake_config, **dict(options.stack_options)}
        stack = Stack.start(users=options.users, seed=options.seed, **stack_options)
    except StackStartError as exc:
        raise SetupError(f"the embedded stack did not start: {exc}") from exc
    with stack:
        users = _context_users(stack.users, stack.minter, options)
        fakes = {p: stack.fake_url(p) for p in ("strava", "fitbit", "garmin")}
        write_context(context_path, users, fakes, options.seed)
        health = tuple(url for name in stack.processes if name.startswith("worker")
                       for url in [stack.health_url(name)] if url)
        yield Target(stack.api_url or "", context_path, stack.aws_env, worker_health_urls=health)


def _target_from_state(options: LoadOptions, context_path: Path) -> Target:
    from stack.identity import TokenMinter
    from stack.launcher.stack import load_state
    from stack.seed import SeededUser

    try:
        state = load_state(options.stack_state)  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the stack state {options.stack_state}: {exc}") from exc
    if state.get("stopped"):
        raise UsageError(f"the stack in {options.stack_state} has stopped; start it with 'swsim up'")
    import json

    raw_users = json.loads(Path(state["users_file"]).read_text())
    seeded = [_seeded_user_from_json(SeededUser, u) for u in raw_users]
    users = _context_users(seeded, TokenMinter(Path(state["keys_dir"])), options)
    fakes = {p: state["endpoints"][f"fake-{p}"] for p in ("strava", "fitbit", "garmin")
             if f"fake-{p}" in state["endpoints"]}
    write_context(context_path, users, fakes, options.seed)
    health = tuple(url for name, url in (state.get("health_urls") or {}).items() if name.startswith("worker"))
    return Target(state["api_url"], context_path, state.get("aws_env"), worker_health_urls=health)


def _seeded_user_from_json(cls: Any, data: Mapping[str, Any]) -> Any:
    from stack.seed import SeededConnection, SeededPair

    return cls(user_id=data["user_id"], tier=data["tier"],
               connections=tuple(SeededConnection(**c) for c in data["connections"]),
               pairs=tuple(SeededPair(**p) for p in data["pairs"]))


def _context_users(seeded: Sequence[Any], minter: Any, options: LoadOptions) -> list[ContextUser]:
    """Tokens for every seeded user, alternating the two issuers, valid for the whole run."""
    ttl = int(options.duration_s + options.drain_timeout_s + TOKEN_TTL_MARGIN_S)
    users = []
    for index, user in enumerate(seeded):
        issuer = "firebase" if index % 2 == 0 else "cognito"
        users.append(ContextUser(
            user_id=user.user_id, token=minter.mint(issuer, user.user_id, ttl_s=ttl),
            connections=tuple(ContextConnection(c.connection_id, c.provider, c.provider_user_id)
                              for c in user.connections),
            pairs=tuple((p.source_connection_id, p.destination_connection_id, p.data_type) for p in user.pairs)))
    return users


class QueueSampler:
    """Samples the hot-path queue and DLQ depths every few seconds while the load runs (for charts and drain)."""

    def __init__(self, aws_env: Mapping[str, str], queue_names: tuple[str, str], interval_s: float):
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(aws_access_key_id=aws_env.get("AWS_ACCESS_KEY_ID"),
                                         aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
                                         region_name=aws_env.get("AWS_DEFAULT_REGION", "us-east-1"))
        self._sqs = session.client("sqs", endpoint_url=aws_env.get("AWS_ENDPOINT_URL_SQS"),
                                   config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=5))
        self._urls = [self._sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in queue_names]
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.series: dict[str, list[tuple[float, float]]] = {"queue_depth": [], "in_flight": [], "dlq_depth": []}
        self._thread = threading.Thread(target=self._run, name="queue-sampler", daemon=True)

    def depths(self) -> tuple[int, int, int]:
        """(visible, in flight, DLQ) right now."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        hot = self._sqs.get_queue_attributes(QueueUrl=self._urls[0], AttributeNames=names)["Attributes"]
        dlq = self._sqs.get_queue_attributes(QueueUrl=self._urls[1], AttributeNames=names[:1])["Attributes"]
        visible = int(hot.get(names[0], 0)) + int(hot.get(names[2], 0))
        return visible, int(hot.get(names[1], 0)), int(dlq.get(names[0], 0))

    def start(self) -> "QueueSampler":
        self._t0 = time.monotonic()
        self.t0_epoch = time.time()  # the series' t=0 on the wall clock (job records are epoch times)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> tuple[int, int, int]:
        try:
            visible, in_flight, dlq = self.depths()
        except Exception:  # a sampling hiccup (e.g. SQS under a fault) must not end the run
            return (-1, -1, -1)
        at = time.monotonic() - self._t0
        self.series["queue_depth"].append((at, visible))
        self.series["in_flight"].append((at, in_flight))
        self.series["dlq_depth"].append((at, dlq))
        return visible, in_flight, dlq

    def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or in flight (every accepted job finished or dead-lettered)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            visible, in_flight, _ = self.sample()
            if visible == 0 and in_flight == 0:
                return True
            time.sleep(min(self._interval_s, 1.0))
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _accepted_jobs(result: RunResult) -> int:
    """Jobs the API accepted (202s on the submit endpoints): the denominator of the sync-success gate."""
    accepted = 0
    for endpoint in SYNC_SUBMIT_ENDPOINTS:
        recording = result.recorder.endpoints.get(endpoint)
        if recording is not None:
            accepted += recording.counts.requests - recording.counts.errors
    return accepted


def run_load(options: LoadOptions) -> LoadOutcome:
    events = schedule_for(options)
    if not events:
        raise UsageError("the schedule is empty: raise --dau, --compress or --duration")
    options.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(events)} requests scheduled over {options.duration_s:g} s ({options.model}, DAU {options.dau}, "
          f"compression {options.compress:g}x)", file=sys.stderr, flush=True)
    with open_target(options) as target:
        os.environ[CONTEXT_ENV] = str(target.context_file.resolve())
        sampler = QueueSampler(target.aws_env, target.queue_names, options.sample_interval_s).start() \
            if target.aws_env else None
        from scenarios.engine import OpenModelRun

        run = OpenModelRun(target.api_url, events, BUILDERS, workers=options.workers,
                           expect_remote_workers=options.expect_workers, master_bind_host=options.master_bind,
                           master_port=options.master_port, pool_size=options.pool_size,
                           window_s=options.window_s, out_dir=options.out_dir)
        run.events.ready.add_listener(_announce_master)
        try:
            result = run.run()
            series: dict[str, list[tuple[float, float]]] = {}
            if sampler is not None:
                print("load done; draining the hot-path queue ...", file=sys.stderr, flush=True)
                drained = sampler.drain(options.drain_timeout_s)
                if not drained:
                    print(f"warning: the queue did not drain within {options.drain_timeout_s:g} s",
                          file=sys.stderr)
                _, _, dlq = sampler.sample()
                result.add_counter("sync_jobs_accepted", _accepted_jobs(result))
                result.add_counter("sync_jobs_dlq", max(dlq, 0))
                series = sampler.series
                _record_sync_jobs(target, options.out_dir, sampler.t0_epoch)
        finally:
            if sampler is not None:
                sampler.stop()
    report = evaluate_gates(result, options.gates)
    paths = write_reports(options.out_dir, result, report, series)
    return LoadOutcome(result, report, paths, series)


def _record_sync_jobs(target: Target, out_dir: Path, queue_t0_epoch: float) -> None:
    """Per-job enqueue/completion times and the worker pool, for ``swsim capacity validate`` (best effort)."""
    from sim.queueing.measured import record_sync_jobs

    try:
        record_sync_jobs(target.aws_env or {}, out_dir, queue_t0_epoch=queue_t0_epoch,
                         worker_health_urls=target.worker_health_urls)
    except Exception as exc:  # the load's verdict must not depend on this extra record
        print(f"warning: sync_jobs.json not written ({type(exc).__name__}: {exc})", file=sys.stderr)


def _announce_master(info: Mapping[str, Any]) -> None:
    if info.get("master_port"):
        print(f"Locust master listening on port {info['master_port']} (workers: python -m scenarios.engine.worker "
              f"--master-host HOST --master-port {info['master_port']}; see scenarios/engine/DISTRIBUTED.md)",
              file=sys.stderr, flush=True)


def gate_table(report: GateReport) -> str:
    """The verdict CI prints: one row per gate."""
    rows = [("gate", "measured", "threshold", "verdict")]
    for gate_result in report.results:
        measured = "-" if gate_result.measured is None else f"{gate_result.measured:.4g} {gate_result.gate.unit}"
        rows.append((gate_result.gate.name, measured, gate_result.gate.describe_threshold(),
                     gate_result.status.upper()))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)
