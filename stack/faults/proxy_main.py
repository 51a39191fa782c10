"""What the fault proxies' processes (``stack.faults.aws_proxy``, ``stack.faults.redis_proxy``) share: the common
flags, uvloop when it is installed, and the event SIGTERM/SIGINT set to stop serving."""
from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any, Callable, Coroutine


def proxy_parser(module: str, doc: str | None, *, port_help: str, seed_help: str,
                 own_flags: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """``python -m <module>``'s parser: the proxy's own flags first, then --host --port --seed --ready-file."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    own_flags(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help=port_help)
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--ready-file", default=None)
    return parser


def install_event_loop_policy() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def stop_event() -> asyncio.Event:
    """An event SIGTERM or SIGINT sets. Made before the readiness line goes out, so a stop sent right after it
    ends the proxy cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_proxy(serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]], args: argparse.Namespace) -> int:
    install_event_loop_policy()
    asyncio.run(serve(args))
    return 0
