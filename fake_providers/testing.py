"""Test helpers: ``run_fake`` (a fake in a background thread on port 0) and ``WebhookReceiver`` (a subscriber
that answers the handshakes and records notifications)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import threading
from typing import Any, Iterator

from aiohttp import web
from multidict import CIMultiDict

from .control import FakeControl
from .core.server import FakeServer


class _LoopThread:
    """An event loop in a daemon thread; coroutines are run on it with ``call``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="fake-loop")
        self.thread.start()

    def call(self, coro, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:   # e.g. requests still held by a hang fault
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.call(cancel_all(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class RunningFake:
    def __init__(self, server: FakeServer, lt: _LoopThread) -> None:
        self.server = server
        self._lt = lt
        self.url = server.url
        self.port = server.port
        self.provider = server.state.provider
        self.state = server.state          # direct access to the model (read it from tests; mutate via control)
        self.control = FakeControl(self.url)

    def call(self, fn, *args, **kwargs) -> Any:
        """Run a plain function on the fake's loop thread (safe mutation of state from a test)."""
        async def run():
            return fn(*args, **kwargs)
        return self._lt.call(run())


@contextlib.contextmanager
def run_fake(provider: str, seed: int = 42, host: str = "127.0.0.1", port: int = 0, **config: Any
             ) -> Iterator[RunningFake]:
    lt = _LoopThread()
    server = FakeServer(provider, host, port, seed=seed, **config)
    try:
        lt.call(server.start())
        fake = RunningFake(server, lt)
        try:
            yield fake
        finally:
            fake.control.close()
            lt.call(server.stop())
    finally:
        lt.close()


class WebhookReceiver:
    """A subscriber endpoint on a loopback port: answers Strava's hub.challenge, Fitbit's verify codes (204/404)
    and checks X-Fitbit-Signature (404 on mismatch), records every notification. ``status`` sets the answer to
    notifications; ``delay`` makes it slow."""

    def __init__(self, verify_token: str = "swsim-token", verify_code: str = "swsim-verify",
                 fitbit_secret: str | None = None, status: int | None = None, delay: float = 0.0) -> None:
        self.verify_token = verify_token
        self.verify_code = verify_code
        self.fitbit_secret = fitbit_secret
        self.status = status
        self.delay = delay
        self.received: list[dict] = []
        self.handshakes: list[dict] = []
        self._lt: _LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle_get(self, request: web.Request) -> web.Response:
        q = request.query
        self.handshakes.append(dict(q))
        if "hub.challenge" in q:
            if q.get("hub.verify_token") != self.verify_token:
                return web.Response(status=403)
            return web.json_response({"hub.challenge": q["hub.challenge"]})
        if "verify" in q:
            return web.Response(status=204 if q["verify"] == self.verify_code else 404)
        return web.Response(status=200)

    async def _handle_post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        entry = {"headers": CIMultiDict(request.headers), "raw": raw, "path": request.path}
        try:
            import json
            entry["json"] = json.loads(raw) if raw else None
        except ValueError:
            entry["json"] = None
        sig = request.headers.get("X-Fitbit-Signature")
        if self.fitbit_secret is not None:
            entry["signature_ok"] = sig is not None and verify_fitbit_signature(raw, sig, self.fitbit_secret)
        self.received.append(entry)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fitbit_secret is not None and not entry["signature_ok"]:
            return web.Response(status=404)
        if self.status is not None:
            return web.Response(status=self.status)
        return web.Response(status=204 if sig is not None else 200)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle_get)
        app.router.add_post("/{tail:.*}", self._handle_post)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/webhook"

    def __enter__(self) -> "WebhookReceiver":
        self._lt = _LoopThread()
        self._lt.call(self._start())
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._lt is not None
        if self._runner is not None:
            self._lt.call(self._runner.cleanup())
        self._lt.close()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict]:
        import time
        deadline = time.time() + timeout
        while len(self.received) < n and time.time() < deadline:
            time.sleep(0.02)
        return self.received


def fitbit_signature(raw: bytes, client_secret: str) -> str:
    """X-Fitbit-Signature: base64(HMAC-SHA1(key = client_secret + "&", raw body))."""
    return base64.b64encode(hmac.new((client_secret + "&").encode(), raw, hashlib.sha1).digest()).decode()


def verify_fitbit_signature(raw: bytes, signature: str, client_secret: str) -> bool:
    return hmac.compare_digest(fitbit_signature(raw, client_secret), signature)
