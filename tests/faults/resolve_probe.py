"""``python -m stack.faults.run_hooked tests.faults.resolve_probe HOST``: print what HOST resolves to (or the
resolver's error) as JSON; a stand-in for a hooked service process in the DNS tests."""
from __future__ import annotations

import json
import socket
import sys

if __name__ == "__main__":
    try:
        result = {"address": socket.getaddrinfo(sys.argv[1], 80, type=socket.SOCK_STREAM)[0][4][0]}
    except socket.gaierror as exc:
        result = {"error": str(exc), "errno": exc.errno}
    print(json.dumps(result))
