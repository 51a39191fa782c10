"""The provider HTTP clients' response body cap (issue 3: a fake's sizing bug served 50-88 MB TCX bodies and every
poller stalled for minutes parsing them while its leases ran out).

A body over ``max_body_bytes`` (declared by Content-Length, chunked, sized by the connection's end, or inflated
from gzip) raises ``BodyTooLarge`` without being read whole; ``HttpProvider`` turns it into ``ResponseTooLarge``,
a ``PermanentProviderError``; a worker whose cap is below a provider's bodies fails the job with that reason.
"""
from __future__ import annotations

import gzip
import http.server
import threading
import time
from typing import Any, Iterator

import pytest

from stack.providers import HttpProvider, PermanentProviderError, ResponseTooLarge, make_http
from stack.providers.lean_http import (CLIENT_SWITCH, DEFAULT_MAX_BODY_BYTES, BodyTooLarge, CappedHttpxClient,
                                       LeanHttpClient)

from .harness import wait_for
from .test_worker_happy import _new_pair

CAP = 64 * 1024
BIG = 4 * 1024 * 1024          # 64x the cap: reading it whole is what the cap avoids
SMALL = b'{"ok": true}'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self._serve()
        except OSError:   # the client hung up after refusing the body: expected
            self.close_connection = True

    def _serve(self) -> None:
        if self.path == "/small":
            return self._reply(SMALL, {"Content-Length": str(len(SMALL))})
        if self.path == "/exact":
            return self._reply(b"x" * CAP, {"Content-Length": str(CAP)})
        if self.path == "/big":
            return self._reply(b"x" * BIG, {"Content-Length": str(BIG)})
        if self.path == "/big-gzip":   # ~4 KB on the wire, 4 MB inflated
            body = gzip.compress(b"x" * BIG)
            return self._reply(body, {"Content-Length": str(len(body)), "Content-Encoding": "gzip"})
        if self.path == "/big-unsized":   # no length: the body ends with the connection
            self.close_connection = True
            return self._reply(b"x" * BIG, {"Connection": "close"})
        if self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 16384
            for _ in range(BIG // len(chunk)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return None
        self.send_error(404)
        return None

    def _reply(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Provider(HttpProvider):
    name = "testprov"


@pytest.fixture(params=["lean", "httpx"])
def http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if request.param == "httpx":
        monkeypatch.setenv(CLIENT_SWITCH, "httpx")
    client = make_http(pool_size=2, timeout_s=10.0, max_body_bytes=CAP)
    assert isinstance(client, CappedHttpxClient if request.param == "httpx" else LeanHttpClient)
    yield client
    client.close()


@pytest.mark.parametrize("path", ["/big", "/big-gzip", "/big-unsized", "/big-chunked"])
def test_a_body_over_the_cap_is_a_permanent_provider_error(url: str, http: Any, path: str) -> None:
    provider = _Provider(url, http, gate=lambda _name: None)
    with pytest.raises(ResponseTooLarge) as caught:
        provider._request("GET", path)
    assert isinstance(caught.value, PermanentProviderError)
    assert f"testprov GET {path}: response body" in str(caught.value) and f"{CAP}-byte limit" in str(caught.value)
    if path == "/big":   # refused on the declared length, before reading any of it
        assert f"of {BIG} bytes" in str(caught.value)
    # The client is still usable: the refused connection was dropped, not returned to the pool half-read.
    assert provider._request("GET", "/small").json() == {"ok": True}


def test_bodies_up_to_the_cap_are_read(url: str, http: Any) -> None:
    response = _Provider(url, http, gate=lambda _name: None)._request("GET", "/exact")
    assert response.content == b"x" * CAP


def test_the_lean_client_raises_body_too_large_itself(url: str) -> None:
    client = LeanHttpClient(pool=2, timeout_s=10.0, max_body_bytes=CAP)
    try:
        with pytest.raises(BodyTooLarge) as caught:
            client.request("GET", url + "/big-chunked")
        assert caught.value.limit == CAP
        assert client.request("GET", url + "/small").content == SMALL
    finally:
        client.close()


def test_default_cap_is_32_mib_and_comes_from_the_worker_tuning(make_stack) -> None:
    from stack.worker.service import WorkerSettings
    assert DEFAULT_MAX_BODY_BYTES == 32 * 1024 * 1024
    assert LeanHttpClient().max_body_bytes == DEFAULT_MAX_BODY_BYTES
    stack = make_stack({"worker": {"max_response_body_bytes": 12345}})
    assert WorkerSettings.from_config(stack.config, 1).max_response_body_bytes == 12345
    assert WorkerSettings.from_config(make_stack().config, 1).max_response_body_bytes == DEFAULT_MAX_BODY_BYTES


def test_a_worker_fails_the_job_with_the_reason_when_a_provider_body_is_over_its_cap(make_stack, strava) -> None:
    # Every Strava listing is larger than 200 bytes: the job cannot list its source.
    stack = make_stack({"worker": {"max_response_body_bytes": 200}})
    user_id, src, dst, _src_user, dst_user = _new_pair(stack, strava)
    worker = stack.start_worker(concurrency=1)
    started = time.monotonic()
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    job = stack.wait_job(user_id, job_id, ("FAILED", "DEAD_LETTERED", "SUCCEEDED"), timeout=60)
    assert job["status"] == "FAILED", job
    assert job["error"].startswith("ResponseTooLarge: strava GET ") and "200-byte limit" in job["error"]
    wait_for(lambda: worker.counters.snapshot()["failed"] >= 1, 30, what="the failure counted")
    assert worker.counters.snapshot()["throttled_delays"] == 0   # not a transient retry loop
    assert time.monotonic() - started < 60
    assert strava.control.writes(dst_user["user_id"]) == []
