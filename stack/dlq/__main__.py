"""``python -m stack.dlq [--health-port 0] [--ready-file F] [--once]`` and ``python -m stack.dlq list|redrive``.

The dead-letter consumer (see ``stack/dlq/service.py``): reads HotPathSyncDLQ, marks each job DEAD_LETTERED with
a reason, archives the message to the DLQ archive bucket and parks it in the DLQ for redrive.

    python -m stack.dlq                      # the service (what ``swsim up`` runs)
    python -m stack.dlq list [--since EPOCH] # inspect: one JSON line per archived dead letter
    python -m stack.dlq redrive [--job ID]   # send dead letters back to the hot-path queue (all, or some jobs)

Environment: the stack's (SYNCWELL_TABLE_NAME, AWS endpoints ...) plus SYNCWELL_DLQ_ARCHIVE_BUCKET (default
syncwell-dlq-archive, created when missing).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from stack.config import ConfigError, StackConfig
from stack.bootstrap import ensure_bucket
from stack.dlq.service import DEFAULT_ARCHIVE_BUCKET, DeadLetterConsumer
from stack.readiness import announce_ready
from stack.worker import jsonlog
from stack.worker.health import HealthServer
from stack.worker.service import aws_client

ARCHIVE_BUCKET_ENV = "SYNCWELL_DLQ_ARCHIVE_BUCKET"


def build_consumer(config: StackConfig) -> DeadLetterConsumer:
    bucket = os.environ.get(ARCHIVE_BUCKET_ENV, DEFAULT_ARCHIVE_BUCKET)
    s3 = aws_client("s3", config, pool=10)
    ensure_bucket(s3, bucket, config.region)
    tuning = config.tuning.get("dlq", {}) if isinstance(config.tuning.get("dlq"), dict) else {}
    return DeadLetterConsumer(config, aws_client("sqs", config, pool=10), aws_client("dynamodb", config, pool=10), s3,
                              archive_bucket=bucket, poll_wait_s=int(tuning.get("poll_wait_s", 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.dlq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=("serve", "list", "redrive"), default="serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--health-port", type=int, default=0)
    parser.add_argument("--ready-file", default=None)
    parser.add_argument("--once", action="store_true", help="handle one batch of DLQ messages (if any), then exit")
    parser.add_argument("--since", type=float, default=0.0, help="list: only dead letters archived after EPOCH")
    parser.add_argument("--job", action="append", default=[], help="redrive: only this job id (repeatable)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    jsonlog.setup("dlq", args.log_level)
    try:
        consumer = build_consumer(StackConfig.from_env())
    except ConfigError as exc:
        print(f"dlq: {exc}", file=sys.stderr)
        return 2
    if args.action == "list":
        for record in consumer.records(args.since):
            print(json.dumps({"jobId": record.job_id, "messageId": record.message_id, "reason": record.reason,
                              "receives": record.receives, "archivedAt": record.archived_at,
                              "redrivenAt": record.redriven_at}))
        return 0
    if args.action == "redrive":
        print(json.dumps({"redriven": consumer.redrive(set(args.job) or None)}))
        return 0
    if args.once:
        print(consumer.poll_once(wait_s=0))
        return 0
    return serve(consumer, args)


def serve(consumer: DeadLetterConsumer, args: argparse.Namespace) -> int:
    health = HealthServer(lambda: {"status": "ok", "service": "dlq", **consumer.counters.snapshot()},
                          args.host, args.health_port).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (stop.set(), consumer.stop()))
    thread = threading.Thread(target=consumer.run, name="dlq", daemon=True)
    thread.start()
    announce_ready("dlq", health.url, args.ready_file)
    stop.wait()
    consumer.stop()
    thread.join(10)
    health.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
