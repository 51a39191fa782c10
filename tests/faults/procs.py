"""Real processes for the fault tests: a child started with ``python -m``, ready when it prints its
SWSIM-READY line, stopped (process group) at the end."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from stack.readiness import parse_ready_line

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class Child:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None, deadline_s: float = 60) -> None:
        self.proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, env={**os.environ, **(env or {})},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.ready: dict[str, Any] = {}
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + deadline_s
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.ready = parse_ready_line(raw.decode())
                break
            except ValueError:
                continue
            finally:
                if time.monotonic() > deadline:
                    break
        if not self.ready:
            self.stop()
            raise RuntimeError(f"{argv} did not become ready:\n" + "".join(self.stderr[-20:]))
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode("utf-8", "replace"))

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def poll(fn: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = 20, every_s: float = 0.05) -> T:
    deadline = time.monotonic() + timeout_s
    value = fn()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s; last value {value!r}")
        time.sleep(every_s)
        value = fn()
    return value
