"""Request builders for the stub server (tests, bench, self-checks): the event's ``payload_bytes`` carries
the work time in ms, so the ground truth of every request follows from the schedule alone."""
from __future__ import annotations

from scenarios.engine.requests import RequestSpec
from scenarios.engine.schedule_file import ScheduledEvent


def fast(event: ScheduledEvent) -> RequestSpec:
    return RequestSpec("GET", "/fast", name="GET /fast")


def work(event: ScheduledEvent) -> RequestSpec:
    return RequestSpec("GET", f"/work?ms={event.payload_bytes}", name="GET /work")


def slow(event: ScheduledEvent) -> RequestSpec:
    return RequestSpec("GET", f"/work?ms={event.payload_bytes}", name="GET /slow")


def server_error(event: ScheduledEvent) -> RequestSpec:
    return RequestSpec("GET", "/status/503", name="GET /status/503")


STUB_BUILDERS = {"fast": fast, "work": work, "slow": slow, "error": server_error}
