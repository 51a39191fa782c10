"""Stub servers with a known latency distribution, each in its own process on a loopback port 0.

The load engine itself always runs Locust in subprocesses (run_open_model starts them), so nothing here
imports Locust or gevent into the pytest process.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Callable, Iterator

import pytest

READY = "SWSIM-READY "


@pytest.fixture
def stub_server() -> Iterator[Callable[..., str]]:
    procs: list[subprocess.Popen[str]] = []

    def start(stall_every: float = 0.0, stall_for: float = 0.0) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "scenarios.engine.stub_server", "--stall-every",
                                 str(stall_every), "--stall-for", str(stall_for)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server announces itself (or dies: empty line)
        assert line.startswith(READY), f"stub server did not start: {line!r}"
        return json.loads(line[len(READY):])["url"]

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)
