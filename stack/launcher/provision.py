"""One-shot provisioning of a starting stack: the AWS bootstrap, then the seeded users.

``python -m stack.launcher.provision --out FILE [--users N --seed S --fake-urls JSON]`` (started by the launcher,
forked from its fork server; not a user command; configured from the environment like the services)

Why a process of its own: it needs boto3 with five service models loaded (~1 s of CPU), which the fork server has
already done, so the launcher itself never imports boto3 and runs this work on the other core while it starts
the services. Output, on stdout:

- ``SWSIM-READY {"service": "provision", "resources": {...}}`` once every AWS resource exists (the services may
  start);
- then the users are seeded and ``FILE`` gets ``{"resources", "users": [SeededUser...], "seed_s"}`` (written
  atomically); the process exits 0. A failure exits non-zero with the error on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stack.bootstrap import create_resources, local_app_secret
from stack.config import PROVIDERS, ConfigError, StackConfig
from stack.readiness import announce_ready
from stack.seed import seed_users


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.launcher.provision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where the JSON result goes")
    parser.add_argument("--users", type=int, default=0, help="users to seed (0: bootstrap only)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice in seeding")
    parser.add_argument("--fake-urls", default="{}", help='JSON {"strava": url, ...}: the fakes to seed users in')
    return parser.parse_args(argv)


def write_result(path: Path, result: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(result, handle)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = StackConfig.from_env()
    except ConfigError as exc:
        print(f"provision: {exc}", file=sys.stderr, flush=True)
        return 2
    resources = create_resources(config, app_secrets={p: local_app_secret(p) for p in PROVIDERS})
    announce_ready("provision", resources=dict(resources))
    fake_urls: dict[str, str] = json.loads(args.fake_urls)
    result: dict[str, Any] = {"resources": dict(resources), "users": [], "seed_s": 0.0}
    if args.users > 0 and all(p in fake_urls for p in PROVIDERS):
        seeded = seed_users(config, fake_urls, args.users, None, args.seed)
        result.update(users=seeded.to_json(), seed_s=round(seeded.seconds, 3))
    result["cpu_s"] = round(time.process_time(), 3)     # this process's CPU, for the start-up benchmark
    write_result(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
