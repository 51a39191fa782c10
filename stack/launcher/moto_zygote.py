"""A fork server for the moto processes: import moto once, fork one server process per AWS service.

``python -m stack.launcher.moto_zygote --log-dir DIR [--server threaded|gevent] [--no-sqs-speedup]``

Why: importing moto and building a service's app costs ~1.3 s of CPU per process; five services started side by
side spend ~6 CPU-seconds before the first request, most of ``swsim up``'s time on two cores. Here the imports
happen once and each service is a ``fork()`` of this warm process: still one process per service (moto is
CPU-bound, so each gets its own GIL), started in a few milliseconds.

Protocol (line-based): the launcher writes ``spawn <service> <port>`` to stdin; the child binds, then prints
``SWSIM-READY {"service": "moto-<service>", "url": ..., "pid": <child pid>}`` on this process's stdout; when a
child exits the zygote prints ``SWSIM-EXIT {"service": ..., "pid": ..., "code": <exit code or -signal>}``.
Each child runs in its own process group, logs to ``<log-dir>/moto-<service>.{stdout,stderr}.log``, and is
SIGKILLed if the zygote dies (which itself dies with the launcher).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
from typing import Any

from stack.launcher.moto_service import SERVICES, build_app, serve_gevent, serve_threaded

PR_SET_PDEATHSIG = 1
EXIT_PREFIX = "SWSIM-EXIT "
_children: dict[int, str] = {}
_control_fd = 1


def _emit(prefix: str, info: dict[str, Any]) -> None:
    """One line on the control pipe, in one write (atomic below PIPE_BUF, so lines never interleave)."""
    os.write(_control_fd, (prefix + json.dumps(info, sort_keys=True) + "\n").encode())


def _reap(_signum: int, _frame: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        service = _children.pop(pid, "?")
        code = os.waitstatus_to_exitcode(status)
        _emit(EXIT_PREFIX, {"service": f"moto-{service}", "pid": pid, "code": code})


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _child(service: str, port: int, args: argparse.Namespace, app: Any) -> None:
    """Runs in the forked child: own group, own log files, serve until SIGTERM."""
    os.setsid()
    _die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    control = os.dup(1)
    for fd, suffix in ((1, "stdout"), (2, "stderr")):
        log = os.open(os.path.join(args.log_dir, f"moto-{service}.{suffix}.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, fd)
        os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)

    def announce_on_control(service_name: str, url: str, _ready_file: Any, **extra: Any) -> None:
        info = {"service": service_name, "url": url, "pid": os.getpid(), **extra}
        os.write(control, ("SWSIM-READY " + json.dumps(info, sort_keys=True) + "\n").encode())
        os.close(control)

    import stack.launcher.moto_service as moto_service

    moto_service.announce_ready = announce_on_control  # type: ignore[assignment]
    serve = moto_service.serve_gevent if args.server == "gevent" else moto_service.serve_threaded
    try:
        serve(app, "127.0.0.1", port, service, None)
    finally:
        os._exit(0)


WARM_UP_CALLS: dict[str, tuple[str, str, dict[str, str], bytes]] = {
    # service: (method, path, headers, body) of one harmless read that loads the service's lazy imports
    "sqs": ("POST", "/", {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"}, b"{}"),
    "dynamodb": ("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                               "Content-Type": "application/x-amz-json-1.0"}, b"{}"),
    "secretsmanager": ("POST", "/", {"X-Amz-Target": "secretsmanager.ListSecrets",
                                     "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
    "s3": ("GET", "/", {}, b""),
    "events": ("POST", "/", {"X-Amz-Target": "AWSEvents.ListEventBuses",
                             "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
}
WARM_UP_AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/{service}/aws4_request, "
                "SignedHeaders=host, Signature=0")


def warm_up(service: str, app: Any) -> None:
    """One request through the app before forking, so every child starts with moto's lazy imports done."""
    from werkzeug.test import Client

    method, path, headers, body = WARM_UP_CALLS[service]
    headers = {**headers, "Authorization": WARM_UP_AUTH.format(service=service), "Host": "127.0.0.1"}
    try:
        Client(app).open(path, method=method, headers=headers, data=body)
    except Exception as exc:  # a warm-up is an optimisation only
        print(f"moto-zygote: warm-up of {service} failed: {exc!r}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.launcher.moto_zygote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--server", choices=("threaded", "gevent"), default="threaded")
    parser.add_argument("--no-sqs-speedup", action="store_true")
    args = parser.parse_args(argv)
    if args.server == "gevent":
        from gevent import monkey

        monkey.patch_all()
    if not args.no_sqs_speedup:
        from stack.sqs_speedup import install

        install()
    # Build every app before forking: the children then only bind and serve.
    apps = {service: build_app(service) for service in SERVICES}
    for service, app in apps.items():
        warm_up(service, app)
    assert serve_threaded and serve_gevent  # imported here so the children do not import them
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: _shutdown())
    _emit("SWSIM-READY ", {"service": "moto-zygote", "pid": os.getpid()})
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3 or parts[0] != "spawn" or parts[1] not in apps:
            print(f"moto-zygote: ignored command {line.strip()!r}", file=sys.stderr, flush=True)
            continue
        service, port = parts[1], int(parts[2])
        pid = os.fork()
        if pid == 0:
            _child(service, port, args, apps[service])
        _children[pid] = service
    _shutdown()
    return 0


def _shutdown() -> None:
    """Stdin closed or SIGTERM: the launcher is going away; take every child down with us."""
    for pid in list(_children):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
