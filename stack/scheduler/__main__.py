"""``python -m stack.scheduler [--once] [--health-port 0] [--ready-file F]``: tiered sync scheduling.

Every ``scheduler.pass_interval_s`` (60 s) it enqueues a job for each due sync config (PRO every 15 min, FREE
daily, over ``scheduler.shards`` Murmur3 shards), with a cheap hasNewData pre-flight for providers without
webhooks. ``--once`` runs one pass, prints its summary as JSON and exits (for tests and cron-style use).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading

from stack.config import ConfigError, StackConfig
from stack.providers import make_clients
from stack.readiness import announce_ready
from stack.scheduler.service import Scheduler
from stack.worker import jsonlog
from stack.worker.credentials import CredentialStore
from stack.worker.health import HealthServer
from stack.worker.service import aws_client
from stack.worker.tokenbucket import BucketSpec, TokenBuckets


def build(config: StackConfig) -> Scheduler:
    specs = {p: BucketSpec(float(v["rate_per_s"]), float(v["burst"]))
             for p, v in config.tuning.get("token_buckets", {}).items()}
    buckets = TokenBuckets(config.redis_url, specs)
    providers = make_clients(config.provider_urls, buckets.take, pool_size=8)
    credentials = CredentialStore(aws_client("secretsmanager", config), providers)
    return Scheduler(config, aws_client("sqs", config), aws_client("dynamodb", config), providers=providers,
                     credentials=credentials)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.scheduler", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--health-port", type=int, default=0)
    parser.add_argument("--ready-file", default=None)
    parser.add_argument("--once", action="store_true", help="run one pass, print its summary, exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    jsonlog.setup("scheduler", args.log_level)
    try:
        config = StackConfig.from_env()
    except ConfigError as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 2
    scheduler = build(config)
    if args.once:
        result = dataclasses.asdict(scheduler.run_pass())
        result.pop("jobs")
        print(json.dumps(result))
        return 0
    health = HealthServer(lambda: {"status": "ok", "service": "scheduler", **scheduler.counters.snapshot()},
                          args.host, args.health_port).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (stop.set(), scheduler.stop()))
    thread = threading.Thread(target=scheduler.run, name="scheduler", daemon=True)
    thread.start()
    announce_ready("scheduler", health.url, args.ready_file, shards=scheduler.shards)
    stop.wait()
    scheduler.stop()
    thread.join(10)
    health.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
