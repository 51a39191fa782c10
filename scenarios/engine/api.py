"""The public API of the open-model load engine (imports no Locust: the Locust side runs in its own processes).

    run = OpenModelRun(target_url, events, request_builders, workers=2, pool_size=400, out_dir=Path("runs/x"))
    run.events.progress.add_listener(my_listener)      # ProgressSnapshot every progress_interval_s
    result = run.run()                                  # RunResult (merged HDR histograms, Locust stats...)
    run.stop()                                          # from another thread: end early, result as usual
    report = evaluate_gates(result, gate_set)           # reports.gates
    write_reports(out_dir, result, report, {"queue_depth": [(t, n), ...]})   # reports.writer

or in one call ``run_open_model(...)``. See scenarios/engine/README.md.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from reports.result import RunResult
from scenarios.engine.config import (DEFAULT_LATE_THRESHOLD_S, DEFAULT_POOL_SIZE, DEFAULT_PROGRESS_INTERVAL_S,
                                     DEFAULT_REQUEST_TIMEOUT_S, PROGRESS_PREFIX, READY_PREFIX, DriverConfig)
from scenarios.engine.progress import ProgressSnapshot
from scenarios.engine.requests import BuilderError, RequestBuilder, builder_refs
from scenarios.engine.schedule_file import ScheduleError, ScheduleInfo, write_schedule
from sim.errors import SetupError, UsageError

SCHEDULE_FILE = "schedule.bin"
DRIVER_CONFIG_FILE = "driver.json"
DRIVER_LOG_FILE = "loadgen.log"
STOP_FILE = "stop"


class EventHook:
    """Locust-style event hook: ``add_listener(fn)`` then ``fire(**kwargs)`` calls every listener."""

    def __init__(self) -> None:
        self._listeners: list[Callable[..., None]] = []

    def add_listener(self, listener: Callable[..., None]) -> Callable[..., None]:
        self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Callable[..., None]) -> None:
        self._listeners.remove(listener)

    def fire(self, **kwargs: Any) -> None:
        for listener in list(self._listeners):
            listener(**kwargs)


@dataclass(slots=True)
class RunEvents:
    """Listeners run on the thread that reads the driver's output (not the caller's thread).

    ``ready(info: dict)``: the master listens (``info["master_port"]``), for workers started by hand.
    ``schedule_written(info: ScheduleInfo)``; ``progress(snapshot: ProgressSnapshot)``;
    ``finished(result: RunResult)``."""

    ready: EventHook = field(default_factory=EventHook)
    schedule_written: EventHook = field(default_factory=EventHook)
    progress: EventHook = field(default_factory=EventHook)
    finished: EventHook = field(default_factory=EventHook)


def print_progress(snapshot: ProgressSnapshot) -> None:
    print(snapshot.line(), file=sys.stderr, flush=True)


class OpenModelRun:
    """Builds one open-model run; subscribe to ``events`` before calling :meth:`run`."""

    def __init__(self, target_url: str, events: Iterable[Any], request_builders: Mapping[str, RequestBuilder] | str,
                 *, workers: int = 0, expect_remote_workers: int = 0, master_bind_host: str = "127.0.0.1",
                 master_port: int = 0, pool_size: int = DEFAULT_POOL_SIZE, window_s: float = 10.0,
                 out_dir: Path | None = None, late_threshold_s: float = DEFAULT_LATE_THRESHOLD_S,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
                 progress_interval_s: float = DEFAULT_PROGRESS_INTERVAL_S, lookahead_s: float = 2.0,
                 start_delay_s: float = 1.0, drain_timeout_s: float | None = None,
                 worker_connect_timeout_s: float = 60.0, print_progress_lines: bool = True,
                 log_level: str = "WARNING"):
        if not target_url.startswith(("http://", "https://")):
            raise UsageError(f"target URL must start with http:// or https://, got {target_url!r}")
        if workers < 0 or expect_remote_workers < 0:
            raise UsageError("workers must be >= 0")
        if pool_size < 1 or (workers + expect_remote_workers) > pool_size:
            raise UsageError(f"pool_size ({pool_size}) must be >= 1 and >= the number of workers")
        if window_s <= 0 or request_timeout_s <= 0 or progress_interval_s <= 0:
            raise UsageError("window_s, request_timeout_s and progress_interval_s must be > 0")
        try:
            self.builder_refs = builder_refs(request_builders)
        except BuilderError as exc:
            raise UsageError(str(exc)) from exc
        self.target_url = target_url.rstrip("/")
        self.schedule = events
        self.out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="swsim-load-"))
        self.settings = dict(workers=workers, expect_remote_workers=expect_remote_workers,
                             master_bind_host=master_bind_host, master_port=master_port, pool_size=pool_size,
                             window_s=window_s, late_threshold_s=late_threshold_s,
                             request_timeout_s=request_timeout_s, progress_interval_s=progress_interval_s,
                             lookahead_s=lookahead_s, start_delay_s=start_delay_s, drain_timeout_s=drain_timeout_s,
                             worker_connect_timeout_s=worker_connect_timeout_s, log_level=log_level)
        self.events = RunEvents()
        self._stop_lock = threading.Lock()
        self._stop_requested = False
        if print_progress_lines:
            self.events.progress.add_listener(lambda snapshot: print_progress(snapshot))

    def _write_schedule(self) -> ScheduleInfo:
        try:
            info = write_schedule(self.out_dir / SCHEDULE_FILE, self.schedule)
        except ScheduleError as exc:
            raise UsageError(str(exc)) from exc
        if info.count == 0:
            raise UsageError("the schedule has no events")
        missing = sorted(set(info.kinds) - set(self.builder_refs))
        if missing:
            raise UsageError(f"no request builder for event kinds {missing} (have {sorted(self.builder_refs)})")
        return info

    def stop(self) -> None:
        """End the run early, from any thread (before or during :meth:`run`): no further scheduled event fires
        (the rest of the schedule is dropped; events already handed to the load processes count as not
        started); requests in flight and their follow-ups finish within the drain timeout, and :meth:`run`
        returns its result as usual (``info.notes`` says it was stopped). For a run whose end is decided while it runs
        (schedule a generous span, stop when done)."""
        with self._stop_lock:
            self._stop_requested = True
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / STOP_FILE).touch()  # a file, not a signal: seen whenever the driver looks

    def run(self) -> RunResult:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stop_path = self.out_dir / STOP_FILE
        with self._stop_lock:
            if not self._stop_requested:
                stop_path.unlink(missing_ok=True)  # a previous run's
        info = self._write_schedule()
        self.events.schedule_written.fire(info=info)
        result_path = self.out_dir / "driver-result.json"
        config = DriverConfig(target_url=self.target_url, schedule_path=str(self.out_dir / SCHEDULE_FILE),
                              builders=self.builder_refs, result_path=str(result_path), stop_file=str(stop_path),
                              **self.settings)
        config.save(self.out_dir / DRIVER_CONFIG_FILE)
        result_path.unlink(missing_ok=True)
        code = self._run_driver()
        if code != 0 or not result_path.exists():
            log_tail = (self.out_dir / DRIVER_LOG_FILE).read_text(errors="replace")[-3000:]
            raise SetupError(f"the load driver failed (exit {code}); log {self.out_dir / DRIVER_LOG_FILE}:\n"
                             f"{log_tail}")
        result = RunResult.load(result_path)
        self.events.finished.fire(result=result)
        return result

    def _run_driver(self) -> int:
        with open(self.out_dir / DRIVER_LOG_FILE, "wb") as log_file:
            # its own process group: the driver and the workers it starts are stopped together
            proc = subprocess.Popen([sys.executable, "-m", "scenarios.engine.driver", "--config",
                                     str(self.out_dir / DRIVER_CONFIG_FILE)],
                                    stdout=subprocess.PIPE, stderr=log_file, text=True, bufsize=1,
                                    start_new_session=True)
            reader = threading.Thread(target=self._read_driver_output, args=(proc,), daemon=True)
            reader.start()
            try:
                code = proc.wait()
            except BaseException:  # KeyboardInterrupt, or the caller's own timeout
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
                raise
            reader.join(timeout=5)
            return code

    def _read_driver_output(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX):
                self.events.progress.fire(snapshot=ProgressSnapshot.from_wire(json.loads(line[len(PROGRESS_PREFIX):])))
            elif line.startswith(READY_PREFIX):
                self.events.ready.fire(info=json.loads(line[len(READY_PREFIX):]))


def run_open_model(target_url: str, events: Iterable[Any], request_builders: Mapping[str, RequestBuilder] | str,
                   **options: Any) -> RunResult:
    """Fire ``events`` at their scheduled times against ``target_url``; see :class:`OpenModelRun` for options
    (workers, pool_size, window_s, out_dir, late_threshold_s, request_timeout_s, ...)."""
    return OpenModelRun(target_url, events, request_builders, **options).run()
