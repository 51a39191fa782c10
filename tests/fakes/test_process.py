"""The process entry point: readiness line and file, loopback port 0, clean stop on SIGTERM."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest


@pytest.mark.parametrize("provider", ["strava", "fitbit", "garmin"])
def test_process_ready_line_and_sigterm(provider, tmp_path):
    ready = tmp_path / "ready.json"
    p = subprocess.Popen([sys.executable, "-m", "fake_providers", "--provider", provider, "--port", "0",
                          "--seed", "3", "--ready-file", str(ready), "--heavy-bytes", "1000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("SWSIM-READY "), line + p.stderr.read()
        info = json.loads(line.split(" ", 1)[1])
        assert info["service"] == f"fake-{provider}" and info["provider"] == provider
        assert info["url"].startswith("http://127.0.0.1:")
        assert json.loads(ready.read_text()) == info
        assert httpx.get(info["url"] + "/_fake/health").status_code == 200
        assert httpx.get(info["url"] + "/_fake/config").json()["heavy_bytes"] == 1000
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
    assert rc == 0
