"""A Locust worker of an open-model run: ``python -m scenarios.engine.worker --master-host H --master-port P``.

Everything it needs (target URL, request builders by import path, settings) comes from the master in a setup
message, so a worker on another machine only needs this project installed (and the builders' modules
importable). It fires the events the master streams to it, records its own HDR histograms, sends progress every
few seconds and, once its share is done, its whole recorder (encoded) for the master to merge.
"""
from __future__ import annotations

from locust import events as _locust_events  # noqa: F401  (first: gevent monkey-patching)

import argparse
import logging
import os
import sys
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

from scenarios.engine import messages
from scenarios.engine.driver import process_counters, wait_until
from scenarios.engine.firing import LoadProcess
from scenarios.engine.requests import load_builders
from scenarios.engine.user import ScheduledRequestUser, configure_user

log = logging.getLogger("swsim.worker")


class WorkerSide:
    def __init__(self, master_host: str, master_port: int):
        self.environment = Environment(user_classes=[ScheduledRequestUser])
        self.runner: WorkerRunner = self.environment.create_worker_runner(master_host, master_port)
        self.process: LoadProcess | None = None
        self.settings: dict[str, Any] = {}
        for name, handler in ((messages.SETUP, self._on_setup), (messages.START, self._on_start),
                              (messages.EVENTS, self._on_events), (messages.END, self._on_end),
                              (messages.STOP, self._on_stop)):
            self.runner.register_message(name, handler)

    def _on_setup(self, environment: Environment, msg: Any, **_: Any) -> None:
        data = msg.data
        try:
            builders = load_builders(data["builders"])
            self.process = LoadProcess(builders, tuple(data["kinds"]), float(data["window_s"]),
                                       float(data["late_threshold_s"]), str(data["part_id"]))
            configure_user(data["target_url"], float(data["request_timeout_s"]), self.process)
            self.environment.host = data["target_url"]
            self.settings = data
        except Exception as exc:  # reported to the master, which fails the run with exit 2
            log.exception("setup failed")
            self.runner.send_message(messages.SETUP_FAILED, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self.runner.send_message(messages.SETUP_OK, {"part_id": data["part_id"]})

    def _on_start(self, environment: Environment, msg: Any, **_: Any) -> None:
        assert self.process is not None
        self.process.start_clock(float(msg.data["delay_s"]))
        gevent.spawn(self._progress_loop)

    def _on_events(self, environment: Environment, msg: Any, **_: Any) -> None:
        assert self.process is not None
        self.process.push_records(msg.data["data"])

    def _on_stop(self, environment: Environment, msg: Any, **_: Any) -> None:
        if self.process is not None:
            self.process.stop()

    def _on_end(self, environment: Environment, msg: Any, **_: Any) -> None:
        gevent.spawn(self._finish)

    def _progress_loop(self) -> None:
        assert self.process is not None
        interval = float(self.settings.get("progress_interval_s", 5.0))
        while True:
            gevent.sleep(interval)
            self.runner.send_message(messages.PROGRESS, process_counters(self.process))

    def _finish(self) -> None:
        process = self.process
        assert process is not None
        process.close_feed()
        timeout = max(0.0, process.last_at_s - process.now_s())
        drained = wait_until(process.is_done, timeout + float(self.settings["drain_timeout_s"]))
        duration = process.now_s()
        cpu_s = process.cpu_s()
        process.count_not_started()
        self.runner.send_message(messages.PROGRESS, process_counters(process))
        # Locust's own stats for this worker reach the master before our final message (same socket, FIFO)
        self.runner._send_stats()
        self.runner.send_message(messages.FINAL, {"recorder": process.recorder.to_wire(), "drained": drained,
                                                  "duration_s": duration, "cpu_s": cpu_s,
                                                  "part_id": process.part_id})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scenarios.engine.worker",
        description="Join an open-model run's Locust master as a worker (see scenarios/engine/DISTRIBUTED.md).")
    parser.add_argument("--master-host", default="127.0.0.1", help="the master's address (default 127.0.0.1)")
    parser.add_argument("--master-port", type=int, default=5557, help="the master's port (its SWSIM-READY line)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    worker = WorkerSide(args.master_host, args.master_port)
    worker.runner.greenlet.join()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
