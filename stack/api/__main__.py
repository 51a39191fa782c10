"""``python -m stack.api``: the SyncWell API (configuration from the environment, see stack/config.py)."""
from __future__ import annotations

import argparse
import sys

from stack.api.logs import configure_json_logging
from stack.api.serving import serve
from stack.config import StackConfig, ConfigError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stack.api",
        description="The SyncWell API: /v1 endpoints behind the dual (Firebase + Cognito) JWT authorizer, provider "
                    "webhooks, GET /health and the OpenAPI document at /openapi.json. Configured from the "
                    "environment (SYNCWELL_TABLE_NAME, SYNCWELL_JWT_ISSUERS, SYNCWELL_REDIS_URL, "
                    "AWS_ENDPOINT_URL_*...). Prints 'SWSIM-READY {json}' once it serves.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 lets the OS choose (default)")
    parser.add_argument("--ready-file", default=None, help="also write the readiness JSON to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_json_logging("api")
    try:
        config = StackConfig.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    from stack.api.app import create_app     # after logging is configured

    serve(create_app(config), service="api", host=args.host, port=args.port, ready_file=args.ready_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
