"""Webhook emission: a queue of deliveries sent by the fake to the subscriber, with the provider's retry policy,
the webhook-phase faults (duplicates, out-of-order) applied, and every attempt logged in the counters. A scheduler
looks for data that became visible as the clock moved and asks the provider model for notifications."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from .faults.base import Delivery
from .util import loads

log = logging.getLogger("fake_providers.webhooks")


class WebhookEmitter:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.queue: asyncio.Queue | None = None
        self.session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task] = []
        self._wake: asyncio.Event | None = None
        self._futures: dict[int, asyncio.Future] = {}
        self.held: list[list] = []    # [delivery, remaining, deadline]
        self.seq = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self._wake = asyncio.Event()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, force_close=False))
        n = max(1, int(self.state.config["webhook_concurrency"] or 1))
        self._tasks = [asyncio.create_task(self._sender()) for _ in range(n)]
        self._tasks.append(asyncio.create_task(self._scheduler()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self.session is not None:
            await self.session.close()
            self.session = None

    def wake(self) -> None:
        if self._wake is not None and self.loop is not None:
            try:
                if asyncio.get_running_loop() is self.loop:
                    self._wake.set()
                    return
            except RuntimeError:
                pass
            self.loop.call_soon_threadsafe(self._wake.set)

    def reset(self) -> None:
        self.held.clear()
        if self.queue is not None:
            while not self.queue.empty():
                d = self.queue.get_nowait()
                self._resolve(d, {"outcome": "dropped", "seq": d.seq})

    # -- submission ----------------------------------------------------------------------------------------------
    def submit(self, d: Delivery) -> list[asyncio.Future]:
        """Queue one logical delivery (faults may turn it into several, or hold it). Returns futures of the
        deliveries that were queued now."""
        self.seq += 1
        d.seq = self.seq
        out = [d]
        for f in self.state.faults.for_webhook(d):
            self.state.counters.faults_fired[f.name] += 1
            nxt = []
            for x in out:
                r = f.on_webhook(x, self)
                nxt.extend([x] if r is None else r)
            out = nxt
        futs = []
        for x in out:
            futs.append(self._enqueue(x))
        return futs

    def _enqueue(self, d: Delivery) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._futures[id(d)] = fut
        assert self.queue is not None
        self.queue.put_nowait(d)
        return fut

    def hold(self, d: Delivery, after: int, max_hold: float) -> None:
        self.held.append([d, after, time.monotonic() + max_hold])

    def _release(self, sent: int = 1) -> None:
        now = time.monotonic()
        keep = []
        for entry in self.held:
            entry[1] -= sent
            if entry[1] <= 0 or entry[2] <= now:
                self._enqueue(entry[0])
            else:
                keep.append(entry)
        self.held = keep

    def _resolve(self, d: Delivery, result: dict) -> None:
        fut = self._futures.pop(id(d), None)
        if fut is not None and not fut.done():
            fut.set_result(result)

    # -- sending -------------------------------------------------------------------------------------------------
    async def _sender(self) -> None:
        assert self.queue is not None
        while True:
            d = await self.queue.get()
            try:
                result = await self._deliver(d)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the sender die
                log.exception("webhook delivery crashed")
                result = {"outcome": "error", "error": repr(exc), "seq": d.seq}
            self._resolve(d, result)
            if self.held:
                self._release(1)

    async def _deliver(self, d: Delivery) -> dict:
        st = self.state
        result: dict = {}
        backoff = float(st.config["webhook_retry_backoff_seconds"] or 0)
        for attempt in range(1, max(1, d.attempts) + 1):
            entry = {"seq": d.seq, "copy": d.copy, "kind": d.kind, "url": d.url, "users": d.users,
                     "attempt": attempt, "at": st.clock.now(), "headers": d.headers, "meta": dict(d.meta)}
            if len(d.body) <= 65536:
                try:
                    entry["body"] = loads(d.body)
                except Exception:
                    entry["body"] = d.body.decode(errors="replace")
            try:
                assert self.session is not None
                async with self.session.post(d.url, data=d.body, headers=d.headers,
                                             timeout=aiohttp.ClientTimeout(total=d.timeout)) as resp:
                    await resp.read()
                    entry["status"] = resp.status
                    entry["outcome"] = "delivered" if resp.status in d.expect else "rejected"
            except asyncio.TimeoutError:
                entry["outcome"] = "timeout"
            except aiohttp.ClientError as exc:
                entry["outcome"] = "error"
                entry["error"] = repr(exc)
            st.counters.record_webhook(entry)
            result = entry
            if entry["outcome"] == "delivered":
                break
            if attempt < d.attempts and backoff:
                await asyncio.sleep(backoff * (2 ** (attempt - 1)))
        return result

    # -- new data ------------------------------------------------------------------------------------------------
    async def _scheduler(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=float(self.state.config["webhook_poll_seconds"]
                                                                        or 0.5))
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                if self.held:
                    now = time.monotonic()
                    if any(e[2] <= now for e in self.held):
                        self._release(0)
                if self.state.config["webhook_auto"]:
                    self.state.scan_new_data()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook scheduler tick failed")
