"""The Locust process of an open-model run: ``python -m scenarios.engine.driver --config run.json``.

Local mode (``workers == 0``): a LocalRunner whose users fire the schedule themselves. Distributed mode: a
MasterRunner that waits for its workers (spawned here on loopback, and/or started by hand elsewhere, see
DISTRIBUTED.md), hands each worker its share of the schedule (by ``user_index % workers``, so one user's events
stay in order on one worker), collects each worker's HDR histograms at the end and merges them exactly.

Prints ``SWSIM-READY {json}`` once the master listens, ``SWSIM-PROGRESS {json}`` lines while it runs, and writes
the RunResult to ``config.result_path``. Exit codes: 0 done (gates are judged by the caller), 2 setup error.
"""
from __future__ import annotations

from locust import events as _locust_events  # noqa: F401  (first: gevent monkey-patching)

import argparse
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import MasterRunner, Runner

from reports import histogram as hdr
from reports.recorder import LatencyRecorder
from reports.result import LocustEndpointStats, PartSummary, RunInfo, RunResult
from scenarios.engine import messages
from scenarios.engine.config import PROGRESS_PREFIX, READY_PREFIX, DriverConfig
from scenarios.engine.firing import LoadProcess
from scenarios.engine.progress import ProgressSnapshot
from scenarios.engine.requests import BuilderError, load_builders
from scenarios.engine.schedule_file import (RECORD, ScheduleError, ScheduleInfo, decode_records,
                                            iter_record_chunks, read_info)
from scenarios.engine.user import ScheduledRequestUser, configure_user

log = logging.getLogger("swsim.driver")
CHUNK_RECORDS = 256
SPAWN_TIMEOUT_S = 60.0


class DriverSetupError(Exception):
    """Exit 2: the run could not be set up."""


def emit(prefix: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(prefix + json.dumps(payload) + "\n")
    sys.stdout.flush()


def paced_chunks(schedule_path: Path, lookahead_s: float, now_s: Callable[[], float]) -> Iterator[bytes]:
    """Schedule records in chunks, each released no earlier than ``lookahead_s`` before its first event."""
    for chunk in iter_record_chunks(schedule_path, CHUNK_RECORDS):
        first_at = RECORD.unpack_from(chunk, 0)[0]
        wait = first_at - lookahead_s - now_s()
        if wait > 0:
            gevent.sleep(wait)
        yield chunk


def locust_stats(environment: Environment) -> dict[str, LocustEndpointStats]:
    stats: dict[str, LocustEndpointStats] = {}
    for (name, method), entry in environment.stats.entries.items():
        has = entry.num_requests > 0
        stats[name] = LocustEndpointStats(
            name=name, method=method, num_requests=entry.num_requests, num_failures=entry.num_failures,
            avg_ms=round(entry.avg_response_time, 3) if has else None,
            p50_ms=float(entry.get_response_time_percentile(0.50)) if has else None,
            p95_ms=float(entry.get_response_time_percentile(0.95)) if has else None,
            p99_ms=float(entry.get_response_time_percentile(0.99)) if has else None,
            max_ms=float(entry.max_response_time) if has else None,
        )
    return stats


def wait_spawned(runner: Runner, environment: Environment, pool_size: int) -> None:
    spawned = Event()
    environment.events.spawning_complete.add_listener(lambda user_count, **_: spawned.set())
    runner.start(pool_size, spawn_rate=max(100.0, pool_size * 4.0))
    if not spawned.wait(SPAWN_TIMEOUT_S):
        raise DriverSetupError(f"Locust did not spawn {pool_size} users within {SPAWN_TIMEOUT_S:.0f}s")


@dataclass(slots=True)
class Clock:
    t0: float = 0.0

    def now_s(self) -> float:
        return time.perf_counter() - self.t0


class ProgressPrinter:
    """Every ``interval`` seconds: merge the latest counters of every part and print one snapshot line."""

    def __init__(self, interval_s: float, clock: Clock, info: ScheduleInfo):
        self.interval_s = interval_s
        self.clock = clock
        self.rate = info.count / info.span_s if info.span_s > 0 else 0.0
        self.latest: dict[str, dict[str, Any]] = {}

    def update(self, part_id: str, counters: dict[str, Any]) -> None:
        self.latest[part_id] = counters

    def snapshot(self) -> ProgressSnapshot:
        elapsed = max(self.clock.now_s(), 1e-9)
        totals = {key: sum(int(c[key]) for c in self.latest.values())
                  for key in ("started", "completed", "late_starts", "errors", "in_flight")}
        merged = hdr.new_window_histogram()
        for counters in self.latest.values():
            hdr.merge_into(merged, hdr.decode(counters["latency"]))
        scheduled_so_far = min(int(self.rate * elapsed), sum(int(c["scheduled_fed"]) for c in self.latest.values()))
        return ProgressSnapshot(
            elapsed_s=round(elapsed, 3), scheduled_so_far=scheduled_so_far, started=totals["started"],
            completed=totals["completed"], late_starts=totals["late_starts"], errors=totals["errors"],
            in_flight=totals["in_flight"],
            # each part's rate over its own clock: progress messages from workers arrive late by design
            achieved_rps=round(sum(int(c["started"]) / max(float(c["elapsed_s"]), 1e-9)
                                   for c in self.latest.values() if float(c["elapsed_s"]) > 0), 2),
            target_rps=round(scheduled_so_far / elapsed, 2), p99_ms=hdr.percentile_ms(merged, 99.0))

    def loop(self) -> None:
        while True:
            gevent.sleep(self.interval_s)
            if self.clock.now_s() > 0 and self.latest:
                emit(PROGRESS_PREFIX, self.snapshot().to_wire())


def process_counters(process: LoadProcess) -> dict[str, Any]:
    progress = process.progress()
    return {"started": progress.started, "completed": progress.completed, "late_starts": progress.late_starts,
            "errors": progress.errors, "in_flight": progress.in_flight, "scheduled_fed": progress.scheduled_fed,
            "elapsed_s": process.now_s() if process.t0 is not None else 0.0,
            "latency": hdr.encode(process.progress_latency)}


def part_summary(part_id: str, recorder: LatencyRecorder, cpu_s: float) -> PartSummary:
    totals = recorder.totals()
    return PartSummary(part_id, totals.requests, recorder.scheduled, totals.late_starts, totals.errors,
                       round(cpu_s, 3))


def watch_stop(stop_file: str | None, on_stop: Callable[[], None], poll_s: float = 0.1) -> gevent.Greenlet:
    """Call ``on_stop`` once ``stop_file`` exists (``OpenModelRun.stop`` creates it); kill the greenlet at the end."""
    def watch() -> None:
        if not stop_file:
            return
        while not os.path.exists(stop_file):
            gevent.sleep(poll_s)
        on_stop()

    return gevent.spawn(watch)


def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(poll_s)
    return True


# -- local mode ------------------------------------------------------------------------------------------------
def run_local(config: DriverConfig, info: ScheduleInfo, builders: dict[str, Any]) -> RunResult:
    environment = Environment(user_classes=[ScheduledRequestUser], host=config.target_url)
    process = LoadProcess(builders, info.kinds, config.window_s, config.late_threshold_s, "local")
    configure_user(config.target_url, config.request_timeout_s, process)
    runner = environment.create_local_runner()
    wait_spawned(runner, environment, config.pool_size)
    process.start_clock(config.start_delay_s)
    clock = Clock(process.t0 or 0.0)
    started_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=config.start_delay_s)
    printer = ProgressPrinter(config.progress_interval_s, clock, info)
    progress = gevent.spawn(lambda: _local_progress(printer, process))
    feeder = gevent.spawn(lambda: [process.push_records(chunk) for chunk in
                                   paced_chunks(Path(config.schedule_path), config.lookahead_s, clock.now_s)])
    watcher = watch_stop(config.stop_file, lambda: (feeder.kill(block=False), process.stop()))
    feeder.join()
    process.close_feed()
    drained = wait_until(process.is_done, max(0.0, info.span_s - clock.now_s()) + config.effective_drain_timeout_s)
    duration = clock.now_s()
    cpu_s = process.cpu_s()
    process.count_not_started()
    progress.kill()
    watcher.kill()
    printer.update("local", process_counters(process))
    emit(PROGRESS_PREFIX, printer.snapshot().to_wire())
    runner.stop()
    result = RunResult(
        info=_run_info(config, info, started_at, duration, drained, workers=0, stopped=process.stop_event.is_set()),
        recorder=process.recorder, locust=locust_stats(environment),
        parts=[part_summary("local", process.recorder, cpu_s)])
    runner.quit()
    return result


def _local_progress(printer: ProgressPrinter, process: LoadProcess) -> None:
    while True:
        gevent.sleep(printer.interval_s)
        if printer.clock.now_s() > 0:
            printer.update("local", process_counters(process))
            emit(PROGRESS_PREFIX, printer.snapshot().to_wire())


def _run_info(config: DriverConfig, info: ScheduleInfo, started_at: dt.datetime, duration: float, drained: bool,
              workers: int, stopped: bool = False) -> RunInfo:
    return RunInfo(target_url=config.target_url, started_at=started_at.isoformat(timespec="milliseconds"),
                   duration_s=round(duration, 6), schedule_span_s=info.span_s, window_s=config.window_s,
                   workers=workers, pool_size=config.pool_size,
                   late_threshold_ms=config.late_threshold_s * 1000.0, request_timeout_s=config.request_timeout_s,
                   drained=drained, notes=list(config.notes) + ([] if drained else [
                       "in-flight requests were abandoned at the drain deadline"]) + ([
                       f"stopped early by the caller at {duration:.1f} s"] if stopped else []))


# -- distributed mode ------------------------------------------------------------------------------------------
class MasterSide:
    def __init__(self, config: DriverConfig, info: ScheduleInfo):
        self.config = config
        self.info = info
        self.environment = Environment(user_classes=[ScheduledRequestUser], host=config.target_url)
        self.runner: MasterRunner = self.environment.create_master_runner(config.master_bind_host,
                                                                          config.master_port)
        self.clock = Clock(time.perf_counter() + 3600.0)  # "not started" until START is sent
        self.printer = ProgressPrinter(config.progress_interval_s, self.clock, info)
        self.setup_ok: set[str] = set()
        self.setup_failed: dict[str, str] = {}
        self.finals: dict[str, dict[str, Any]] = {}
        self.part_of_client: dict[str, str] = {}
        self.stopped = False
        for name, handler in ((messages.SETUP_OK, self._on_setup_ok), (messages.SETUP_FAILED, self._on_setup_failed),
                              (messages.PROGRESS, self._on_progress), (messages.FINAL, self._on_final)):
            self.runner.register_message(name, handler)

    def _on_setup_ok(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.setup_ok.add(msg.node_id)

    def _on_setup_failed(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.setup_failed[msg.node_id] = str(msg.data.get("error"))

    def _on_progress(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.printer.update(msg.node_id, msg.data)

    def _on_final(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.finals[msg.node_id] = msg.data

    def spawn_local_workers(self) -> list[subprocess.Popen[bytes]]:
        port = self.runner.server.port
        log_dir = Path(self.config.result_path).parent
        procs = []
        for index in range(self.config.workers):
            log_file = open(log_dir / f"worker-{index}.log", "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "scenarios.engine.worker", "--master-host", "127.0.0.1",
                 "--master-port", str(port), "--log-level", self.config.log_level],
                stdout=log_file, stderr=subprocess.STDOUT))
        return procs

    def run(self) -> RunResult:
        config = self.config
        emit(READY_PREFIX, {"service": "loadgen-master", "url": f"tcp://{config.master_bind_host}:"
                            f"{self.runner.server.port}", "master_port": self.runner.server.port,
                            "expect_workers": config.total_workers})
        procs = self.spawn_local_workers()
        try:
            return self._run_with_workers()
        finally:
            self.runner.quit()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _clients(self) -> list[str]:
        return sorted(node.id for node in self.runner.clients.all)

    def _run_with_workers(self) -> RunResult:
        config = self.config
        if not wait_until(lambda: len(self.runner.clients.ready) >= config.total_workers,
                          config.worker_connect_timeout_s):
            raise DriverSetupError(f"only {len(self.runner.clients.ready)} of {config.total_workers} workers "
                                   f"connected within {config.worker_connect_timeout_s:.0f}s")
        clients = self._clients()[: config.total_workers]
        for index, client_id in enumerate(clients):
            self.part_of_client[client_id] = f"worker-{index}"
            self.runner.send_message(messages.SETUP, {
                "part_id": f"worker-{index}", "target_url": config.target_url, "builders": config.builders,
                "kinds": list(self.info.kinds), "window_s": config.window_s,
                "late_threshold_s": config.late_threshold_s, "request_timeout_s": config.request_timeout_s,
                "progress_interval_s": config.progress_interval_s,
                "drain_timeout_s": config.effective_drain_timeout_s}, client_id=client_id)
        wait_until(lambda: len(self.setup_ok) + len(self.setup_failed) >= len(clients), 30.0)
        if self.setup_failed or len(self.setup_ok) < len(clients):
            raise DriverSetupError(f"worker setup failed: {self.setup_failed or 'no answer from some workers'}")
        wait_spawned(self.runner, self.environment, config.pool_size)
        for client_id in clients:
            self.runner.send_message(messages.START, {"delay_s": config.start_delay_s}, client_id=client_id)
        self.clock.t0 = time.perf_counter() + config.start_delay_s
        started_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=config.start_delay_s)
        progress = gevent.spawn(self.printer.loop)
        feeder = gevent.spawn(self._feed, clients)
        watcher = watch_stop(config.stop_file, lambda: self._stop(feeder, clients))
        feeder.join()
        for client_id in clients:
            self.runner.send_message(messages.END, {}, client_id=client_id)
        deadline = max(0.0, self.info.span_s - self.clock.now_s()) + config.effective_drain_timeout_s + 15.0
        complete = wait_until(lambda: len(self.finals) >= len(clients), deadline)
        duration = max((float(f["duration_s"]) for f in self.finals.values()), default=self.clock.now_s())
        progress.kill()
        watcher.kill()
        emit(PROGRESS_PREFIX, self.printer.snapshot().to_wire())
        if not complete:
            missing = sorted(self.part_of_client[c] for c in clients if c not in self.finals)
            raise DriverSetupError(f"no final recording from {missing} before the deadline")
        return self._merge(clients, started_at, duration)

    def _feed(self, clients: list[str]) -> None:
        n = len(clients)
        for chunk in paced_chunks(Path(self.config.schedule_path), self.config.lookahead_s, self.clock.now_s):
            shares: list[bytearray] = [bytearray() for _ in clients]
            for record in decode_records(chunk):
                shares[record[1] % n] += RECORD.pack(*record)
            for client_id, share in zip(clients, shares):
                if share:
                    self.runner.send_message(messages.EVENTS, {"data": bytes(share)}, client_id=client_id)

    def _stop(self, feeder: gevent.Greenlet, clients: list[str]) -> None:
        self.stopped = True
        feeder.kill(block=False)
        for client_id in clients:
            self.runner.send_message(messages.STOP, {}, client_id=client_id)

    def _merge(self, clients: list[str], started_at: dt.datetime, duration: float) -> RunResult:
        merged = LatencyRecorder(self.config.window_s, self.config.late_threshold_s)
        parts = []
        drained = True
        for client_id in clients:
            final = self.finals[client_id]
            recorder = LatencyRecorder.from_wire(final["recorder"])
            parts.append(part_summary(self.part_of_client[client_id], recorder, float(final.get("cpu_s", 0.0))))
            merged.merge(recorder)
            drained = drained and bool(final["drained"])
        # give Locust's own stats reports (sent by each worker just before its final message) a moment
        gevent.sleep(0.2)
        return RunResult(info=_run_info(self.config, self.info, started_at, duration, drained, len(clients),
                                        self.stopped),
                         recorder=merged, locust=locust_stats(self.environment), parts=parts)


def stop_with_parent(poll_s: float = 1.0) -> None:
    """The driver runs in its own process group (so its workers stop with it); when the process that started
    it dies without stopping it, end the whole group instead of loading the target on our own."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            gevent.sleep(poll_s)
        os.killpg(os.getpgid(0), signal.SIGTERM)

    gevent.spawn(watch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.engine.driver",
                                     description="Locust side of an open-model run (started by run_open_model).")
    parser.add_argument("--config", required=True, type=Path, help="DriverConfig JSON")
    args = parser.parse_args(argv)
    config = DriverConfig.load(args.config)
    stop_with_parent()
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        info = read_info(Path(config.schedule_path))
        builders = load_builders(config.builders)
        missing = sorted(set(info.kinds) - set(builders))
        if missing:
            raise DriverSetupError(f"no request builder for event kinds {missing} (have {sorted(builders)})")
        if config.total_workers:
            result = MasterSide(config, info).run()
        else:
            result = run_local(config, info, builders)
    except (DriverSetupError, BuilderError, ScheduleError) as exc:
        print(f"swsim-driver: setup error: {exc}", file=sys.stderr, flush=True)
        return 2
    result.save(Path(config.result_path))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # gevent/zmq leftovers must not hang the exit
