"""How the region's own servers (replicator, router) run as processes: until SIGTERM or Ctrl-C, exit 0."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, Callable, Coroutine


def run_until_stopped(serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
                      args: argparse.Namespace) -> int:
    """Serve until stopped. SIGTERM exits through SystemExit so the event loop's cleanup runs (sockets closed)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(serve(args))
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0
