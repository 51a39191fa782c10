"""The worker's counters and a tiny HTTP health endpoint (``GET /health`` -> JSON counters)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

COUNTER_NAMES = ("received", "processed", "succeeded", "duplicates_dropped", "throttled_delays", "retried",
                 "failed", "dead_lettered", "third_party_calls", "items_written", "items_skipped",
                 "busy_locks", "deferred_late_jobs", "requeue_failures", "events_published", "token_refreshes")


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {name: 0 for name in COUNTER_NAMES}
        self.started_at = time.time()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


class HealthServer:
    """Serves ``GET /health`` on a daemon thread; ``payload()`` is called per request."""

    def __init__(self, payload: Callable[[], dict], host: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] not in ("/health", "/"):
                    self.send_error(404)
                    return
                body = json.dumps(payload()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # health probes are not worth a log line
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HealthServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
