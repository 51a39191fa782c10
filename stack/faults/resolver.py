"""The DNS hook of the service processes: ``socket.getaddrinfo`` (and ``gethostbyname``) resolve the stack's own
host names (``fake-strava.swsim.internal``...) from the JSON hosts file named by ``SWSIM_HOSTS_FILE``, and raise
``socket.gaierror`` (EAI_NONAME, as a real resolver does for an unknown name) for a name a ``dns_failure`` fault
has removed for this process (``SWSIM_SERVICE_NAME``) or for all. Names the file does not list resolve as usual.

The file is re-read when it changes (one ``stat`` per lookup), so faults take effect on the next connection.
Hosts file: ``{"hosts": {name: ip}, "failures": {fault_name: {"host": name, "process": "*" | service}}}``.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any

HOSTS_FILE_ENV = "SWSIM_HOSTS_FILE"
SERVICE_NAME_ENV = "SWSIM_SERVICE_NAME"
_original_getaddrinfo = socket.getaddrinfo
_original_gethostbyname = socket.gethostbyname


class HostsTable:
    def __init__(self, path: str, service: str) -> None:
        self.path = path
        self.service = service
        self._stamp: tuple[int, int] | None = None
        self._hosts: dict[str, str] = {}
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def lookup(self, host: str) -> str | None:
        """The IP for a listed name, None for an unlisted one; raises gaierror for a failed one."""
        self._refresh()
        name = host.lower().rstrip(".")
        if name in self._failed:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self._hosts.get(name)

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        with self._lock:
            try:
                with open(self.path, encoding="utf-8") as handle:
                    data: dict[str, Any] = json.load(handle)
            except (OSError, ValueError):
                return  # a half-written file: keep the last good table (writers replace it atomically anyway)
            self._hosts = {k.lower(): str(v) for k, v in (data.get("hosts") or {}).items()}
            self._failed = {str(f.get("host", "")).lower() for f in (data.get("failures") or {}).values()
                            if f.get("process", "*") in ("*", self.service)}
            self._stamp = stamp


_table: HostsTable | None = None


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if _table is not None and isinstance(host, (str, bytes)):
        name = host.decode() if isinstance(host, bytes) else host
        address = _table.lookup(name)
        if address is not None:
            return _original_getaddrinfo(address, *args, **kwargs)
    return _original_getaddrinfo(host, *args, **kwargs)


def _gethostbyname(host: str) -> str:
    if _table is not None:
        address = _table.lookup(host)
        if address is not None:
            return address
    return _original_gethostbyname(host)


def install(path: str | None = None, service: str | None = None) -> bool:
    """Hook name resolution when a hosts file is configured; True when installed. Idempotent."""
    global _table
    path = path or os.environ.get(HOSTS_FILE_ENV)
    if not path:
        return False
    _table = HostsTable(path, service or os.environ.get(SERVICE_NAME_ENV, ""))
    socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]
    socket.gethostbyname = _gethostbyname
    return True


def uninstall() -> None:
    global _table
    _table = None
    socket.getaddrinfo = _original_getaddrinfo
    socket.gethostbyname = _original_gethostbyname
