"""Process control for the process faults: kill -9, SIGSTOP/SIGCONT and restart of the stack's named processes,
either through a running in-process :class:`stack.launcher.Stack` or from a stack's state file (pids)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol
from urllib.parse import urlsplit

from stack.faults.base import FaultUnsupported

if TYPE_CHECKING:
    from stack.launcher.stack import Stack

PORT_FLAGS = ("--port", "--health-port")   # the services' listening-port flags (0: any free port)


class ProcessControl(Protocol):
    def names(self) -> list[str]: ...
    def worker_names(self) -> list[str]: ...
    def running(self, name: str) -> bool: ...
    def pid(self, name: str) -> int | None: ...
    def kill(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...


def worker_names_of(names: list[str]) -> list[str]:
    """``worker`` (one worker) or ``worker-1..N``, in order."""
    workers = [n for n in names if n == "worker" or (n.startswith("worker-") and n[7:].isdigit())]
    return sorted(workers, key=lambda n: int(n[7:]) if n != "worker" else 0)


class StackProcessControl:
    """Through the launcher: restarts reuse the same port and wait until ready."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self.stack.processes)

    def worker_names(self) -> list[str]:
        return worker_names_of(self.names())

    def running(self, name: str) -> bool:
        return self.stack.process(name).running

    def pid(self, name: str) -> int | None:
        return self.stack.process(name).pid

    def kill(self, name: str) -> None:
        self.stack.kill_process(name)

    def pause(self, name: str) -> None:
        self.stack.pause_process(name)

    def resume(self, name: str) -> None:
        self.stack.resume_process(name)

    def restart(self, name: str) -> None:
        with self._lock:  # two rollbacks restarting the same worker must not race
            if not self.stack.process(name).running:
                self.stack.restart_process(name)


class StateProcessControl:
    """From a state file (a stack started by another process, e.g. ``swsim up``): signals by process group;
    a restart starts the same argv on the same port with the services' environment (a region pair's process: its
    region's), detached (its logs go to the stack's logs)."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = state
        self._procs: dict[str, dict[str, Any]] = {n: dict(p) for n, p in state.get("processes", {}).items()}
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def names(self) -> list[str]:
        return sorted(self._procs)

    def worker_names(self) -> list[str]:
        return worker_names_of(self.names())

    def _info(self, name: str) -> dict[str, Any]:
        try:
            return self._procs[name]
        except KeyError:
            raise KeyError(f"no process {name!r}; the stack runs {self.names()}") from None

    def pid(self, name: str) -> int | None:
        pid = self._info(name).get("pid")
        return int(pid) if pid else None

    def running(self, name: str) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        child = self._children.get(name)
        if child is not None:
            return child.poll() is None
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(pid)

    def _signal(self, name: str, sig: int) -> None:
        pid = self.pid(name)
        if pid is None:
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass

    def kill(self, name: str) -> None:
        self._signal(name, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.running(name) and time.monotonic() < deadline:
            time.sleep(0.02)

    def pause(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)

    def restart(self, name: str) -> None:
        if self.running(name):
            return
        info = self._info(name)
        argv = list(info.get("argv") or [])
        if not argv or argv[0] == "moto-zygote":
            raise FaultUnsupported(f"cannot restart {name!r} from a state file (argv {argv!r})")
        argv = _same_port(argv, self._url_of(name))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SYNCWELL_"))}
        env.update(self.state.get("service_env", {}))
        env.update(self._region_env(name))
        env["SWSIM_SERVICE_NAME"] = name
        log_dir = Path(self.state.get("log_dir", "."))
        with open(log_dir / f"{name}.stdout.log", "ab") as out, open(log_dir / f"{name}.stderr.log", "ab") as err:
            child = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self._children[name] = child
        info["pid"] = child.pid

    def _url_of(self, name: str) -> str | None:
        return (self.state.get("endpoints") or {}).get(name) or (self.state.get("health_urls") or {}).get(name)

    def _region_env(self, name: str) -> dict[str, str]:
        """A process of a region pair runs with its region's environment on top of the state's ``service_env``
        (which is the primary's): its region, its DynamoDB capture listener, its Redis, its bucket."""
        state_dir = self.state.get("state_dir")
        if not state_dir:
            return {}
        from stack.region.topology import TOPOLOGY_FILE, RegionTopology

        if not (Path(state_dir) / TOPOLOGY_FILE).is_file():
            return {}
        return RegionTopology.read(state_dir).env_of(name)


def _same_port(argv: list[str], url: str | None) -> list[str]:
    """A process started on port 0 comes back on the port it had (clients, the router, know that one)."""
    port = urlsplit(url).port if url else None
    out = list(argv)
    for flag in PORT_FLAGS:
        if port and flag in out[:-1] and out[out.index(flag) + 1] == "0":
            out[out.index(flag) + 1] = str(port)
    return out


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False
