"""One child process of the stack: started in its own process group, watched for its readiness line, logged to
files, and stopped (or killed) as a group so nothing it spawned survives it."""
from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from stack.readiness import parse_ready_line

PR_SET_PDEATHSIG = 1
STDERR_TAIL_LINES = 20


class ProcessFailed(Exception):
    """A child exited or did not become ready; the message names it and carries its exit code and stderr tail."""


@dataclass
class Readiness:
    """How a child says it can serve: the stack's ``SWSIM-READY`` line, or a plain stdout pattern (redis-server)."""

    pattern: str | None = None            # regex on stdout; None = the SWSIM-READY line
    info: dict[str, Any] = field(default_factory=dict)  # extra info known in advance (url of redis, ...)


def _die_with_parent() -> None:
    """Runs in the child before exec: own process group, and SIGKILL when the launcher dies (even by SIGKILL)."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the launcher's atexit/signal handlers still stop the group


class ManagedProcess:
    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path,
                 readiness: Readiness | None = None, cwd: str | None = None,
                 on_line: Callable[[str], None] | None = None, control_stdin: bool = False) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.readiness = readiness or Readiness()
        self.on_line = on_line
        self.control_stdin = control_stdin  # a pipe to write commands to (the moto fork server)
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.ready_info: dict[str, Any] | None = None
        self.started_at = 0.0
        self.ready_at = 0.0
        self.expected_exit = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._ready.clear()
        self.ready_info = None
        self.expected_exit = False
        self.started_at = time.monotonic()
        stderr = open(self.stderr_path, "ab")
        try:
            self._proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd,
                                          stdin=subprocess.PIPE if self.control_stdin else subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=stderr, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise ProcessFailed(f"{self.name}: could not start {self.argv[0]!r}: {exc}") from exc
        finally:
            stderr.close()
        self._reader = threading.Thread(target=self._read_stdout, name=f"stdout-{self.name}", daemon=True)
        self._reader.start()

    def wait_ready(self, deadline: float) -> dict[str, Any]:
        """Block until the readiness line arrives; raise :class:`ProcessFailed` on exit or at ``deadline``."""
        while not self._ready.wait(0.02):
            code = self.poll()
            # On exit, give the stdout reader a moment to deliver a line printed just before it.
            if code is not None and not self._ready.wait(0.5):
                raise ProcessFailed(f"{self.name} exited with code {code} before it was ready\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} did not become ready in time (pid {self.pid})\n{self.stderr_tail()}")
        return self.ready_info or {}

    def poll(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def send_signal(self, sig: int) -> None:
        """Signal the whole process group (the child and anything it spawned)."""
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout_s: float = 3.0) -> int | None:
        """SIGTERM the group, wait, then SIGKILL it; reap the child. Returns its exit code."""
        if self._proc is None:
            return None
        self.expected_exit = True
        if self._proc.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # Children of the child may outlive it: kill the group regardless.
        self.send_signal(signal.SIGKILL)
        try:
            code = self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        if self._reader is not None:
            self._reader.join(1.0)
        return code

    def kill(self) -> int | None:
        """SIGKILL the group at once (a crash, for chaos tests)."""
        if self._proc is None:
            return None
        self.expected_exit = True
        self.send_signal(signal.SIGKILL)
        return self._proc.wait(5)

    # ---- output ----------------------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        pattern = re.compile(self.readiness.pattern) if self.readiness.pattern else None
        with open(self.stdout_path, "ab") as log:
            for raw in self._proc.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if self.on_line is not None and self._ready.is_set():
                    self.on_line(line)
                if self._ready.is_set():
                    continue
                info = self._match_ready(line, pattern)
                if info is not None:
                    self.ready_info = {**self.readiness.info, **info}
                    self.ready_at = time.monotonic()
                    self._ready.set()

    @staticmethod
    def _match_ready(line: str, pattern: re.Pattern[str] | None) -> dict[str, Any] | None:
        if pattern is not None:
            return {} if pattern.search(line) else None
        try:
            return parse_ready_line(line)
        except ValueError:
            return None

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no stderr log)"
        tail = text.splitlines()[-lines:]
        return "  stderr tail:\n" + "\n".join("    " + line for line in tail) if tail else "  (stderr empty)"


class ForkedProcess:
    """A process forked by the fork server (``stack.launcher.zygote``); same interface as ManagedProcess.

    Its pid and exit code arrive as lines on the server's stdout (dispatched to :meth:`on_server_line`); its
    readiness line is read from its own stdout log file. It leads its own process group, so signals go to the
    group as for any other child."""

    def __init__(self, name: str, server: ManagedProcess, argv: Sequence[str], env: Mapping[str, str],
                 log_dir: Path, readiness: Readiness | None = None, cwd: str | None = None) -> None:
        self.name = name
        self.server = server
        self.argv = list(argv)          # [python, -m, module, *args]: what would be exec'd without the server
        self.env = dict(env)
        self.cwd = cwd
        self.readiness = readiness or Readiness()
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.ready_info: dict[str, Any] | None = None
        self.started_at = 0.0
        self.ready_at = 0.0
        self.expected_exit = False
        self._pid: int | None = None
        self._exit_code: int | None = None
        self._forked = threading.Event()
        self._exited = threading.Event()
        self._stdout_offset = 0

    def on_server_line(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "forked":
            self._pid = int(info["pid"])
            self._forked.set()
        elif kind == "exit" and int(info.get("pid", -1)) == self._pid:
            self._exit_code = int(info["code"])
            self._exited.set()

    def start(self) -> None:
        self._forked.clear()
        self._exited.clear()
        self._pid, self._exit_code, self.ready_info = None, None, None
        self.expected_exit = False
        self.started_at = time.monotonic()
        self._stdout_offset = self.stdout_path.stat().st_size if self.stdout_path.exists() else 0
        stdin = self.server._proc.stdin if self.server._proc is not None else None
        if stdin is None or not self.server.running:
            raise ProcessFailed(f"{self.name}: the fork server is not running\n{self.server.stderr_tail()}")
        command = {"name": self.name, "module": self.argv[2], "args": self.argv[3:], "env": self.env,
                   "cwd": self.cwd, "stdout": str(self.stdout_path), "stderr": str(self.stderr_path)}
        stdin.write((json.dumps(command) + "\n").encode())
        stdin.flush()

    def wait_ready(self, deadline: float) -> dict[str, Any]:
        pattern = re.compile(self.readiness.pattern) if self.readiness.pattern else None
        while self.ready_info is None:
            info = self._scan_stdout(pattern)
            if info is not None:
                self.ready_info = {**self.readiness.info, **info}
                self.ready_at = time.monotonic()
                break
            if self._exited.wait(0.02):
                # A short-lived child (provision) may print its line and exit between two scans: read once more.
                info = self._scan_stdout(pattern)
                if info is not None:
                    self.ready_info = {**self.readiness.info, **info}
                    self.ready_at = time.monotonic()
                    break
                raise ProcessFailed(f"{self.name} exited with code {self._exit_code} before it was ready\n"
                                    f"{self.stderr_tail()}")
            if not self.server.running:
                raise ProcessFailed(f"{self.name}: the fork server exited\n{self.server.stderr_tail()}")
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} did not become ready in time (pid {self._pid})\n"
                                    f"{self.stderr_tail()}")
        return self.ready_info

    def _scan_stdout(self, pattern: re.Pattern[str] | None) -> dict[str, Any] | None:
        try:
            with open(self.stdout_path, "rb") as handle:
                handle.seek(self._stdout_offset)
                data = handle.read()
        except FileNotFoundError:
            return None
        complete = data[:data.rfind(b"\n") + 1]
        self._stdout_offset += len(complete)
        for raw in complete.splitlines():
            info = ManagedProcess._match_ready(raw.decode("utf-8", "replace"), pattern)
            if info is not None:
                return info
        return None

    @property
    def pid(self) -> int | None:
        return self._pid

    def poll(self) -> int | None:
        if self._exit_code is not None:
            return self._exit_code
        if self._pid is None:
            return None
        try:
            os.killpg(self._pid, 0)
        except ProcessLookupError:
            return -signal.SIGKILL  # gone without the server telling (the server itself died)
        except PermissionError:
            pass
        return None

    @property
    def running(self) -> bool:
        return self._pid is not None and self.poll() is None

    def send_signal(self, sig: int) -> None:
        if self._pid is None:
            self._forked.wait(2.0)
        if self._pid is None:
            return
        try:
            os.killpg(self._pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout_s: float = 3.0) -> int | None:
        self.expected_exit = True
        if self.poll() is None:
            self.send_signal(signal.SIGTERM)
            self._wait_gone(timeout_s)
        self.send_signal(signal.SIGKILL)
        self._wait_gone(timeout_s)
        return self.poll()

    def kill(self) -> int | None:
        self.expected_exit = True
        self.send_signal(signal.SIGKILL)
        self._wait_gone(5.0)
        return self.poll()

    def _wait_gone(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._pid is not None and self.poll() is None and time.monotonic() < deadline:
            self._exited.wait(0.02)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        return ManagedProcess.stderr_tail(self, lines)  # type: ignore[arg-type]
