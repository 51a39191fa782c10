"""``python -m stack.worker [--concurrency N] [--health-port 0] [--ready-file F]``: the hot-path worker.

Configuration from the environment (see stack/config.py) and the AppConfig tuning file (``worker`` and
``token_buckets`` sections of stack/defaults.yaml). Prints ``SWSIM-READY {"service": "worker", "url": ...}``
once its health endpoint serves and the pollers run; SIGTERM/SIGINT stop it cleanly.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from stack.config import ConfigError, StackConfig
from stack.readiness import announce_ready
from stack.worker import jsonlog
from stack.worker.service import WorkerService, WorkerSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="batches processed at once (poller threads); default: tuning worker.concurrency")
    parser.add_argument("--host", default="127.0.0.1", help="health endpoint bind address")
    parser.add_argument("--health-port", type=int, default=0, help="health endpoint port (0 = any free port)")
    parser.add_argument("--ready-file", default=None, help="also write the readiness JSON to this file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the backoff jitter")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    jsonlog.setup("worker", args.log_level)
    try:
        config = StackConfig.from_env()
    except ConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    service = WorkerService(config, WorkerSettings.from_config(config, args.concurrency, args.seed))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.start(args.host, args.health_port)
    assert service.health is not None
    announce_ready("worker", service.health.url, args.ready_file, concurrency=service.settings.concurrency,
                   queue_url=service.queue_url)
    stop.wait()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
