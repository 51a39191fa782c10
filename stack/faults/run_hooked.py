"""``python -m stack.faults.run_hooked MODULE [ARGS...]``: run ``python -m MODULE ARGS...`` with the DNS hook
(:mod:`stack.faults.resolver`) installed first when ``SWSIM_HOSTS_FILE`` is set.

The launcher starts the services this way when they reach the fakes by host name, so no service has to know
about the hook, and a ``dns_failure`` fault reaches exactly the processes started through it."""
from __future__ import annotations

import runpy
import sys

from stack.faults import resolver


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m stack.faults.run_hooked MODULE [ARGS...]")
    module = sys.argv[1]
    resolver.install()
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
