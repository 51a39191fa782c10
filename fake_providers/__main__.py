"""``python -m fake_providers --provider strava|fitbit|garmin [--host] [--port 0] [--seed] [--ready-file]
[--heavy-bytes] [--light-bytes] [--webhook-url]``: one fake on a loopback port; prints
``SWSIM-READY {"service": ..., "url": ..., "provider": ...}`` once it listens; SIGTERM/SIGINT stop it cleanly."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from .core.server import FakeServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m fake_providers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provider", required=True, choices=["strava", "fitbit", "garmin"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--ready-file", default=None, help="write the readiness JSON here (atomically) once listening")
    ap.add_argument("--heavy-bytes", type=int, default=500_000)
    ap.add_argument("--light-bytes", type=int, default=5_000)
    ap.add_argument("--webhook-url", default=None)
    ap.add_argument("--client-id", default=None)
    ap.add_argument("--client-secret", default=None)
    ap.add_argument("--history-days", type=int, default=None)
    ap.add_argument("--config", default=None, help="JSON object of extra config (as PUT /_fake/config)")
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--log-level", default="WARNING")
    return ap.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    overrides = {"seed": args.seed, "heavy_bytes": args.heavy_bytes, "light_bytes": args.light_bytes,
                 "webhook_url": args.webhook_url, "client_id": args.client_id, "client_secret": args.client_secret,
                 "history_days": args.history_days}
    if args.config:
        overrides.update(json.loads(args.config))
    server = FakeServer(args.provider, args.host, args.port, **overrides)
    await server.start()
    info = server.ready_info()
    line = json.dumps(info)
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(line + "\n")
        os.replace(tmp, args.ready_file)
    print(f"SWSIM-READY {line}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.WARNING), stream=sys.stderr)
    if not args.no_uvloop:
        try:
            import uvloop
            return uvloop.run(serve(args))
        except ImportError:
            pass
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
