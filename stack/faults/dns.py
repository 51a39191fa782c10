"""The writer side of the DNS hook: the hosts file the hooked services read (see stack.faults.resolver).

Each change is a locked read-modify-write replaced atomically, so concurrent faults and readers never see a
partial file."""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

INTERNAL_DOMAIN = "swsim.internal"


def provider_host(provider: str) -> str:
    return f"fake-{provider}.{INTERNAL_DOMAIN}"


class DnsControl:
    def __init__(self, hosts_file: str | os.PathLike[str]) -> None:
        self.path = Path(hosts_file)

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            yield data
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("hosts", {})
        data.setdefault("failures", {})
        return data

    def set_hosts(self, hosts: dict[str, str]) -> None:
        with self._editing() as data:
            data["hosts"].update({k.lower(): v for k, v in hosts.items()})

    def fail(self, fault_name: str, host: str, process: str = "*") -> None:
        with self._editing() as data:
            data["failures"][fault_name] = {"host": host.lower(), "process": process}

    def restore(self, fault_name: str) -> None:
        with self._editing() as data:
            data["failures"].pop(fault_name, None)

    def failures(self) -> dict[str, dict[str, str]]:
        return dict(self.read()["failures"])
