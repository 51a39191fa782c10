"""The Locust user of an open-model run: its only behaviour is "fire the next scheduled request".

The Locust users of a process are its pool of request slots (``pool_size`` users over all processes). Importing
this module imports Locust, which monkey-patches the process with gevent: only the Locust processes do that.
"""
from __future__ import annotations

from typing import ClassVar

import gevent
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

from scenarios.engine.firing import LoadProcess

IDLE_POLL_S = 0.5


class ScheduledRequestUser(FastHttpUser):
    """One pool slot. ``process`` is set by the driver or worker before the users spawn."""

    wait_time = constant(0)
    host = "http://127.0.0.1"
    process: ClassVar[LoadProcess | None] = None

    @task
    def fire_scheduled(self) -> None:
        process = type(self).process
        if process is None:
            gevent.sleep(IDLE_POLL_S)
            return
        record = process.next_record()
        if record is None:  # schedule exhausted: stay idle until Locust stops the user
            gevent.sleep(IDLE_POLL_S)
            return
        process.fire(self.client, record)


def configure_user(target_url: str, request_timeout_s: float, process: LoadProcess) -> None:
    ScheduledRequestUser.host = target_url.rstrip("/")
    ScheduledRequestUser.network_timeout = request_timeout_s
    ScheduledRequestUser.connection_timeout = request_timeout_s
    ScheduledRequestUser.process = process
