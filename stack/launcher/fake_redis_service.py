"""fakeredis's TCP server as a stack process, for machines without ``redis-server``.

``python -m stack.launcher.fake_redis_service [--host 127.0.0.1] [--port 0] [--ready-file F]``
"""
from __future__ import annotations

import argparse
import signal
import sys

from stack.readiness import announce_ready


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.launcher.fake_redis_service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", default=None)
    args = parser.parse_args(argv)
    from fakeredis import TcpFakeServer

    server = TcpFakeServer((args.host, args.port))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = server.server_address[1]
    announce_ready("redis", f"redis://{args.host}:{port}/0", args.ready_file, implementation="fakeredis")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
