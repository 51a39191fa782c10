"""``python -m stack.coalescer [--health-port 0] [--ready-file F] [--once]``: the webhook coalescer.

Reads CoalescingBufferQueue.fifo (the 60 s delivery delay is an attribute of the queue, set by the bootstrap from
``coalescer.delay_s``) and sends one HotPathSyncQueue job per unique user (and sync config) per batch.
"""
from __future__ import annotations

import sys

from stack.coalescer.service import Coalescer
from stack.config import StackConfig
from stack.service_main import ServiceCommand
from stack.worker.service import aws_client


def build(config: StackConfig) -> Coalescer:
    return Coalescer(config, aws_client("sqs", config), aws_client("dynamodb", config),
                     poll_wait_s=int(config.tuning.get("coalescer", {}).get("poll_wait_s", 2)))


COMMAND = ServiceCommand("coalescer", __doc__, once_help="coalesce one batch (if any), then exit", build=build,
                         once=lambda coalescer: str(coalescer.poll_once(wait_s=0)))
main = COMMAND.main


if __name__ == "__main__":
    sys.exit(main())
