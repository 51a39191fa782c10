"""One moto backend (sqs, dynamodb, secretsmanager, s3, events) served on its own loopback port.

``python -m stack.launcher.moto_service --service sqs [--port 0] [--server threaded|gevent] [--ready-file F]``

Why our own entry point instead of ``moto_server``: it binds port 0 and announces the real port with the stack's
readiness line (no port guessing, no race), it routes every request straight to the one service's app (no
per-request host sniffing under a global lock), and for SQS it applies :mod:`stack.sqs_speedup` before serving so
a deep backlog does not slow every ReceiveMessage down, and serves it on the lean HTTP server below (1.7 -> 1.0 ms
CPU per SQS call; ``--no-sqs-speedup`` serves stock moto on werkzeug, for comparison).
For DynamoDB it applies :mod:`stack.dynamodb_speedup` (patched moto, a direct data-plane path and a lean HTTP
server: ~5x less CPU per worker job); ``--no-dynamodb-speedup`` or env ``SWSIM_DYNAMODB_SPEEDUP=0`` serves stock.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any, Callable, Iterable

from stack.readiness import announce_ready

DYNAMODB_SPEEDUP_ENV = "SWSIM_DYNAMODB_SPEEDUP"  # "0": stock moto DynamoDB (the launcher passes the env through)
SERVICES = ("sqs", "dynamodb", "secretsmanager", "s3", "events")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Filled by the launcher's fork server before it forks (stack.launcher.zygote): apps built and warmed once.
PREBUILT_APPS: dict[str, WsgiApp] = {}
WARM_UP_CALLS: dict[str, tuple[str, dict[str, str], bytes]] = {
    # service: (method, headers, body) of one harmless read that loads the service's lazy imports
    "sqs": ("POST", {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"}, b"{}"),
    "dynamodb": ("POST", {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                          "Content-Type": "application/x-amz-json-1.0"}, b"{}"),
    "secretsmanager": ("POST", {"X-Amz-Target": "secretsmanager.ListSecrets",
                                "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
    "s3": ("GET", {}, b""),
    "events": ("POST", {"X-Amz-Target": "AWSEvents.ListEventBuses",
                        "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
}
WARM_UP_AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/{service}/aws4_request, "
                "SignedHeaders=host, Signature=0")


def prebuild_all() -> None:
    """Build and warm every service's app now (in the fork server, before any fork)."""
    from werkzeug.test import Client

    for service in SERVICES:
        app = build_app(service)
        method, headers, body = WARM_UP_CALLS[service]
        headers = {**headers, "Authorization": WARM_UP_AUTH.format(service=service), "Host": "127.0.0.1"}
        try:
            Client(app).open("/", method=method, headers=headers, data=body)
        except Exception as exc:  # a warm-up is an optimisation only
            print(f"moto warm-up of {service} failed: {exc!r}", file=sys.stderr, flush=True)
        PREBUILT_APPS[service] = app


def build_app(service: str) -> WsgiApp:
    """The service's Flask app for AWS calls; ``/moto-api`` (reset, data) still goes to moto's dispatcher."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    service_app = create_backend_app(service)
    dispatcher = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/_health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok", "service": "%s"}' % service.encode()]
        if path.startswith("/moto-api"):
            return dispatcher(environ, start_response)
        return service_app(environ, start_response)

    return app


def serve_threaded(app: WsgiApp, host: str, port: int, service: str, ready_file: str | None) -> None:
    """werkzeug's threaded server (what ``moto_server`` uses): one thread per connection."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    server.daemon_threads = True
    announce_ready(f"moto-{service}", f"http://{host}:{server.server_port}", ready_file, server="threaded")
    server.serve_forever()


def serve_lean(app: WsgiApp, host: str, port: int, service: str, ready_file: str | None) -> None:
    """:class:`stack.dynamodb_speedup.LeanWSGIServer`: threaded like werkzeug's, ~0.8 ms less CPU per request."""
    from stack.dynamodb_speedup import LeanWSGIServer

    server = LeanWSGIServer(host, port, app)
    announce_ready(f"moto-{service}", f"http://{host}:{server.server_port}", ready_file, server="lean")
    server.serve_forever()


def serve_gevent(app: WsgiApp, host: str, port: int, service: str, ready_file: str | None) -> None:
    """gevent's pywsgi server; the process is monkey-patched first so SQS long polling yields instead of blocking."""
    from gevent.pywsgi import WSGIServer

    server = WSGIServer((host, port), app, log=None, error_log=None)
    server.start()
    announce_ready(f"moto-{service}", f"http://{host}:{server.server_port}", ready_file, server="gevent")
    server.serve_forever()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.launcher.moto_service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", required=True, choices=SERVICES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--server", choices=("threaded", "gevent"), default="threaded")
    parser.add_argument("--no-sqs-speedup", action="store_true", help="serve stock moto SQS (for benchmarks)")
    parser.add_argument("--no-dynamodb-speedup", action="store_true",
                        help="serve stock moto DynamoDB (for benchmarks; also env SWSIM_DYNAMODB_SPEEDUP=0)")
    parser.add_argument("--ready-file", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.server == "gevent":
        from gevent import monkey

        monkey.patch_all()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    if args.service == "sqs" and not args.no_sqs_speedup:
        from stack.sqs_speedup import install

        install()
    app = PREBUILT_APPS.get(args.service) or build_app(args.service)
    dynamodb_speedup_on = not (args.no_dynamodb_speedup or os.environ.get(DYNAMODB_SPEEDUP_ENV) == "0")
    if args.service == "dynamodb" and dynamodb_speedup_on:
        from stack import dynamodb_speedup

        dynamodb_speedup.install()
        app = dynamodb_speedup.wrap_app(app)
        # One access-log line per call is ~5 % of a served call at hundreds of calls/s (errors are still logged).
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve = serve_gevent if args.server == "gevent" else serve_threaded
    sped_up = dynamodb_speedup_on if args.service == "dynamodb" else args.service == "sqs" and not args.no_sqs_speedup
    if args.server == "threaded" and sped_up:
        # werkzeug's request handling is ~30 % of moto SQS's CPU per call; the hot path's two services skip it.
        serve = serve_lean
    serve(app, args.host, args.port, args.service, args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
