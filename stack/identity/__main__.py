"""``python -m stack.identity``: serve the two local issuers (see stack/identity/server.py for the routes)."""
from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from stack.api.logs import configure_json_logging
from stack.api.serving import bind_socket, serve
from stack.identity.issuers import issuer_specs, write_issuers_file
from stack.identity.minter import TokenMinter
from stack.identity.server import build_identity_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stack.identity",
        description="Local Firebase-like and Cognito-like identity providers: RS256 keys, JWKS endpoints, and "
                    "POST /_mint to issue test tokens. Prints 'SWSIM-READY {json}' with the issuer list once "
                    "it serves; pass that list to the API as SYNCWELL_JWT_ISSUERS.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: minting is local only)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 lets the OS choose (default)")
    parser.add_argument("--keys-dir", default=None,
                        help="directory holding the RSA keys (created if missing; default: a fresh temp dir). "
                             "Reuse it so tokens stay valid across restarts and TokenMinter(keys_dir) works.")
    parser.add_argument("--ready-file", default=None, help="also write the readiness JSON to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_json_logging("identity")
    keys_dir = Path(args.keys_dir or tempfile.mkdtemp(prefix="swsim-identity-"))
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    sock = bind_socket(args.host, args.port)
    base_url = f"http://{args.host}:{sock.getsockname()[1]}"
    specs = issuer_specs(base_url, region)
    write_issuers_file(keys_dir, specs)
    minter = TokenMinter(keys_dir)
    app = build_identity_app(minter)
    serve(app, service="identity", host=args.host, port=args.port, ready_file=args.ready_file, sock=sock,
          ready_extra=lambda _url: {"issuers": [asdict(spec) for spec in specs], "keys_dir": str(keys_dir)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
