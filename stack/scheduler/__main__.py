"""``python -m stack.scheduler [--once] [--health-port 0] [--ready-file F]``: tiered sync scheduling.

Every ``scheduler.pass_interval_s`` (60 s) it enqueues a job for each due sync config (PRO every 15 min, FREE
daily, over ``scheduler.shards`` Murmur3 shards), with a cheap hasNewData pre-flight for providers without
webhooks. ``--once`` runs one pass, prints its summary as JSON and exits (for tests and cron-style use).
Each pass also sweeps expired TTL items when DynamoDB is not AWS itself (``scheduler.ttl_sweep``: auto | on | off;
stack/scheduler/ttlsweep.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

from stack.config import StackConfig
from stack.providers import make_clients
from stack.scheduler.service import Scheduler
from stack.scheduler.ttlsweep import ITEMS_PER_PASS, MAX_DELETES_PER_PASS, TtlSweeper, sweep_enabled
from stack.service_main import ServiceCommand
from stack.worker.credentials import CredentialStore
from stack.worker.refreshjournal import RefreshJournal
from stack.worker.service import aws_client
from stack.worker.tokenbucket import BucketSpec, TokenBuckets


def build(config: StackConfig) -> Scheduler:
    specs = {p: BucketSpec(float(v["rate_per_s"]), float(v["burst"]))
             for p, v in config.tuning.get("token_buckets", {}).items()}
    buckets = TokenBuckets(config.redis_url, specs)
    providers = make_clients(config.provider_urls, buckets.take, pool_size=8)
    ddb = aws_client("dynamodb", config)
    # The pre-flight may refresh tokens: through the same lock and write-ahead record as the workers.
    credentials = CredentialStore(aws_client("secretsmanager", config), providers,
                                  journal=RefreshJournal(ddb, config.table_name))
    tuning = config.tuning.get("scheduler", {})
    sweeper = None
    if sweep_enabled(str(tuning.get("ttl_sweep", "auto")), os.environ):   # moto never expires TTL items
        sweeper = TtlSweeper(ddb, config.table_name,
                             items_per_pass=int(tuning.get("ttl_sweep_items_per_pass", ITEMS_PER_PASS)),
                             max_deletes_per_pass=int(tuning.get("ttl_sweep_max_deletes", MAX_DELETES_PER_PASS)))
    return Scheduler(config, aws_client("sqs", config), ddb, providers=providers, credentials=credentials,
                     sweeper=sweeper)


def once(scheduler: Scheduler) -> str:
    """One pass's summary as JSON (without the jobs themselves)."""
    result = dataclasses.asdict(scheduler.run_pass())
    result.pop("jobs")
    return json.dumps(result)


COMMAND = ServiceCommand("scheduler", __doc__, once_help="run one pass, print its summary, exit", build=build,
                         once=once)
main = COMMAND.main


if __name__ == "__main__":
    sys.exit(main())
