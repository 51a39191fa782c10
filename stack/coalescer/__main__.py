"""``python -m stack.coalescer [--health-port 0] [--ready-file F] [--once]``: the webhook coalescer.

Reads CoalescingBufferQueue.fifo (the 60 s delivery delay is an attribute of the queue, set by the bootstrap from
``coalescer.delay_s``) and sends one HotPathSyncQueue job per unique user (and sync config) per batch.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from stack.coalescer.service import Coalescer
from stack.config import ConfigError, StackConfig
from stack.readiness import announce_ready
from stack.worker import jsonlog
from stack.worker.health import HealthServer
from stack.worker.service import aws_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.coalescer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--health-port", type=int, default=0)
    parser.add_argument("--ready-file", default=None)
    parser.add_argument("--once", action="store_true", help="coalesce one batch (if any), then exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    jsonlog.setup("coalescer", args.log_level)
    try:
        config = StackConfig.from_env()
    except ConfigError as exc:
        print(f"coalescer: {exc}", file=sys.stderr)
        return 2
    coalescer = Coalescer(config, aws_client("sqs", config), aws_client("dynamodb", config),
                          poll_wait_s=int(config.tuning.get("coalescer", {}).get("poll_wait_s", 2)))
    if args.once:
        print(coalescer.poll_once(wait_s=0))
        return 0
    health = HealthServer(lambda: {"status": "ok", "service": "coalescer", **coalescer.counters.snapshot()},
                          args.host, args.health_port).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (stop.set(), coalescer.stop()))
    thread = threading.Thread(target=coalescer.run, name="coalescer", daemon=True)
    thread.start()
    announce_ready("coalescer", health.url, args.ready_file)
    stop.wait()
    coalescer.stop()
    thread.join(10)
    health.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
