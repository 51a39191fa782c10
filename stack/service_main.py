"""What the stack's long-running polling services share: their loop, their hot-queue sends and their ``main``.

The coalescer and the scheduler are the same process around a different step: parse ``--host --health-port
--ready-file --once --log-level``, set up JSON logs, read ``StackConfig`` from the environment (a bad one exits 2),
then either run the step once and print its summary, or repeat it on a thread behind a ``GET /health`` endpoint,
print the ``SWSIM-READY`` line and stop cleanly on SIGTERM/SIGINT.

The pieces are separate so a service with its own start-up (the worker owns its health server and pollers) can
take only what fits: ``service_parser`` (then add its own flags), ``load_config``, ``stop_on_signals``.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from stack.config import ConfigError, StackConfig
from stack.readiness import announce_ready
from stack.worker import jsonlog
from stack.worker.health import Counters, HealthServer

# SQS takes at most ten entries per SendMessageBatch.
SQS_BATCH = 10
# How long the thread may take to finish its current step after a stop before the process exits anyway.
JOIN_TIMEOUT_S = 10.0


class PollingService:
    """Repeats ``step()`` on its thread until ``stop()``.

    An AWS error in a step is logged and the step retried after ``retry_s``: a polling service outlives a
    flaky dependency. After a step that worked it waits ``interval_s`` (0: poll again at once, the receive
    itself long-polls).
    """

    def __init__(self, service: str, log: logging.Logger, *, step_name: str = "poll", interval_s: float = 0.0,
                 retry_s: float = 1.0) -> None:
        self.service = service
        self.log = log
        self.step_name = step_name   # the failure log line says "<service> <step_name> failed"
        self.interval_s = interval_s
        self.retry_s = retry_s
        self.counters = Counters()
        self._stop = threading.Event()

    def step(self) -> object:
        raise NotImplementedError

    def ready_info(self) -> dict[str, Any]:
        """Extra fields of the readiness line."""
        return {}

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except (ClientError, BotoCoreError) as exc:
                self.log.warning("%s %s failed", self.service, self.step_name,
                                 extra={"reason": type(exc).__name__})
                self._stop.wait(self.retry_s)
                continue
            if self.interval_s > 0:
                self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()


def send_jobs(sqs: Any, queue_url: str, jobs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Send ``jobs`` in batches of ten, each with its correlationId attribute.

    Returns the failed entries of the first batch that had any (the later batches are not sent), [] when all went.
    """
    for start in range(0, len(jobs), SQS_BATCH):
        chunk = jobs[start:start + SQS_BATCH]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(job), "MessageAttributes": {
                "correlationId": {"DataType": "String", "StringValue": job["correlationId"]}}}
            for i, job in enumerate(chunk)])
        if response.get("Failed"):
            return list(response["Failed"])
    return []


# --- the process -------------------------------------------------------------------------------------------------
def service_parser(service: str, doc: str | None, *, once_help: str | None = None) -> argparse.ArgumentParser:
    """The flags every service process takes; ``--once`` only when ``once_help`` says what it does."""
    parser = argparse.ArgumentParser(prog=f"python -m stack.{service}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="health endpoint bind address")
    parser.add_argument("--health-port", type=int, default=0, help="health endpoint port (0 = any free port)")
    parser.add_argument("--ready-file", default=None, help="also write the readiness JSON to this file")
    if once_help is not None:
        parser.add_argument("--once", action="store_true", help=once_help)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (JSON lines on stderr)")
    return parser


def load_config(service: str, log_level: str) -> StackConfig | None:
    """Set up JSON logs, then read the configuration; None (after saying why on stderr) when it is unusable."""
    jsonlog.setup(service, log_level)
    try:
        return StackConfig.from_env()
    except ConfigError as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return None


def stop_on_signals(*also: Callable[[], object]) -> threading.Event:
    """An event SIGTERM/SIGINT set (calling ``also`` too, so a loop stops without waiting for the main thread)."""
    stop = threading.Event()

    def handle(*_: object) -> None:
        stop.set()
        for callback in also:
            callback()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
    return stop


def serve(service: PollingService, host: str, health_port: int, ready_file: str | None) -> int:
    """Run ``service`` on a thread behind its health endpoint until a signal; announce readiness once it runs."""
    health = HealthServer(lambda: {"status": "ok", "service": service.service, **service.counters.snapshot()},
                          host, health_port).start()
    stop = stop_on_signals(service.stop)
    thread = threading.Thread(target=service.run, name=service.service, daemon=True)
    thread.start()
    announce_ready(service.service, health.url, ready_file, **service.ready_info())
    stop.wait()
    service.stop()
    thread.join(JOIN_TIMEOUT_S)
    health.stop()
    return 0


S = TypeVar("S", bound=PollingService)


@dataclass(frozen=True)
class ServiceCommand(Generic[S]):
    """One polling service's ``python -m stack.<service>``: how to build it and what ``--once`` prints."""
    service: str
    doc: str | None
    once_help: str
    build: Callable[[StackConfig], S]
    once: Callable[[S], str]

    def main(self, argv: list[str] | None = None) -> int:
        args = service_parser(self.service, self.doc, once_help=self.once_help).parse_args(argv)
        config = load_config(self.service, args.log_level)
        if config is None:
            return 2
        service = self.build(config)
        if args.once:
            print(self.once(service))
            return 0
        return serve(service, args.host, args.health_port, args.ready_file)
