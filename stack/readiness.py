"""The readiness handshake every long-running process of the stack uses.

A process binds its port (0 by default), then prints exactly one line ``SWSIM-READY {json}`` to stdout and, when
asked, writes the same JSON to a ready file. The launcher waits for that line instead of polling ports, so a
process is "up" only once it can actually serve.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

READY_PREFIX = "SWSIM-READY "


def announce_ready(service: str, url: str | None = None, ready_file: str | os.PathLike[str] | None = None,
                   **extra: Any) -> dict[str, Any]:
    """Print the readiness line (and write the ready file atomically) for ``service``."""
    info: dict[str, Any] = {"service": service, "pid": os.getpid(), **extra}
    if url is not None:
        info["url"] = url
    line = READY_PREFIX + json.dumps(info, sort_keys=True)
    print(line, flush=True)
    if ready_file:
        _write_atomically(Path(ready_file), json.dumps(info))
    return info


def parse_ready_line(line: str) -> dict[str, Any] | None:
    """Return the JSON of a readiness line, or None when ``line`` is ordinary output."""
    if not line.startswith(READY_PREFIX):
        return None
    return json.loads(line[len(READY_PREFIX):])


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
