"""Request builders for the stub server (tests, bench, self-checks): the event's ``payload_bytes`` carries
the work time in ms, so the ground truth of every request follows from the schedule alone."""
from __future__ import annotations

from scenarios.engine.requests import FollowUp, RequestSpec, ResponseInfo
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


def _confirm(followup: FollowUp, response: ResponseInfo) -> None:
    """Like polling a sync job until SUCCEEDED: a second request, then the end-to-end time from the schedule."""
    def poll() -> None:
        answer = followup.request(RequestSpec("GET", "/work?ms=30", name="GET /work (poll)"))
        if answer.status != 200 or answer.body != b"ok":  # a follow-up always gets its body back
            raise AssertionError(f"unexpected poll answer {answer}")
        followup.record_latency("manual_sync", followup.elapsed_s())

    followup.spawn(poll)


def submit_and_confirm(event: ScheduledEvent) -> RequestSpec:
    return RequestSpec("POST", f"/work?ms={event.payload_bytes}", name="POST /work", body=b"x" * 16,
                       after=_confirm)


STUB_BUILDERS["submit"] = submit_and_confirm
