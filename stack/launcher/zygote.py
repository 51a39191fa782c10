"""A fork server for the stack's Python processes: import the heavy libraries once, fork each process from it.

``python -m stack.launcher.zygote [--moto]`` (started by the launcher; not a user command)

Why: every service process spends 0.4-0.9 s of CPU importing boto3, starlette, aiohttp, moto...; with 13 Python
processes that is most of ``swsim up``'s time on two cores. Here the imports happen once (and moto's five apps
are built and warmed once, with ``--moto``), and each process is a ``fork()`` of this warm process that then runs
its module as ``__main__`` (``runpy``), with its own argv, environment, process group and log files. Each is still
its own process (own GIL, own port), and dies with the fork server, which dies with the launcher.

Protocol: one JSON object per line on stdin, ``{"name", "module", "args", "env", "cwd", "stdout", "stderr"}``;
the server answers ``SWSIM-FORKED {"name", "pid"}`` at once and ``SWSIM-EXIT {"name", "pid", "code"}`` when the
process ends (code = exit status, or -signal). The process's own readiness line goes to its stdout log file,
where the launcher reads it. The server's own readiness: ``SWSIM-READY {"service": "zygote", ...}``.
"""
from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import runpy
import signal
import sys
import time
from typing import Any

PR_SET_PDEATHSIG = 1
FORKED_PREFIX = "SWSIM-FORKED "
EXIT_PREFIX = "SWSIM-EXIT "
# Imported before forking; a missing one is skipped (the process imports what it needs itself).
PRELOAD = (
    "boto3", "botocore.session", "botocore.client", "boto3.dynamodb.types", "starlette.applications",
    "starlette.routing", "uvicorn", "uvicorn.main", "httpx", "aiohttp", "aiohttp.web", "redis", "redis.asyncio",
    "jwt", "cryptography.hazmat.primitives.asymmetric.rsa", "yaml", "mmh3", "orjson", "uvloop", "numpy",
    "faker", "stack.config", "stack.schema", "stack.readiness", "stack.bootstrap", "stack.seed",
    "stack.launcher.provision", "stack.api.app", "fake_providers.core.server",
)
AWS_SERVICES = ("sqs", "dynamodb", "secretsmanager", "s3", "events")
_children: dict[int, str] = {}


def _emit(prefix: str, info: dict[str, Any]) -> None:
    """One line on stdout in one write (atomic below PIPE_BUF, so lines never interleave)."""
    os.write(1, (prefix + json.dumps(info, sort_keys=True) + "\n").encode())


def _reap(_signum: int, _frame: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        name = _children.pop(pid, "?")
        _emit(EXIT_PREFIX, {"name": name, "pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _run_child(command: dict[str, Any]) -> None:
    """In the forked child: become the process the command describes, run its module as __main__, exit."""
    code = 0
    try:
        os.setsid()
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for fd, key in ((1, "stdout"), (2, "stderr")):
            log = os.open(command[key], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, fd)
            os.close(log)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.environ.clear()
        os.environ.update(command["env"])
        if command.get("cwd"):
            os.chdir(command["cwd"])
        sys.argv = [command["module"], *command["args"]]
        runpy.run_module(command["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001  the child must never return into the server's loop
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _shutdown(*_: Any) -> None:
    """Stdin closed or SIGTERM: the launcher is going away; take every child down with us."""
    for pid in list(_children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(0)


def preload(moto: bool, services: bool = True) -> float:
    """Import (and warm) what the forked processes need: the services' libraries unless ``services`` is False,
    moto's five apps when ``moto`` is True. Two servers, one of each, preload in parallel on two cores."""
    started = time.monotonic()
    for module in PRELOAD if services else ():
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001  optional: the child imports it (or fails) itself
            pass
    if services:
        prewarm_boto3()
    if moto:
        from stack.launcher import moto_service

        moto_service.prebuild_all()
    return time.monotonic() - started


def prewarm_boto3() -> None:
    """Load the five service models into boto3's default session (``boto3.client`` and the API use it) and make it
    the stack's shared session too (``stack.aws_clients``: bootstrap, seeding): each forked process then creates
    its clients in milliseconds instead of parsing ~0.2 s of JSON models. No call is made and no credentials are
    resolved here (they are explicit), so nothing of this process's environment sticks to the session."""
    try:
        import boto3
        from stack import aws_clients
    except ImportError:
        return
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    for service in AWS_SERVICES:
        session.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                       aws_access_key_id="x", aws_secret_access_key="x")
    aws_clients._SESSION = session   # one loaded session for both entry points (aws_clients creates it lazily)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.launcher.zygote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moto", action="store_true", help="also build and warm moto's five service apps")
    parser.add_argument("--only-moto", action="store_true",
                        help="only build and warm moto's apps (a fork server for the moto processes alone)")
    args = parser.parse_args(argv)
    seconds = preload(args.moto or args.only_moto, services=not args.only_moto)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, _shutdown)
    _emit("SWSIM-READY ", {"service": "zygote", "pid": os.getpid(), "preload_s": round(seconds, 3)})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            name = str(command["name"])
        except (ValueError, KeyError) as exc:
            print(f"zygote: ignored command: {exc}", file=sys.stderr, flush=True)
            continue
        # SIGCHLD blocked around the fork: a child that dies at once is still reported under its name.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            _run_child(command)
        _children[pid] = name
        _emit(FORKED_PREFIX, {"name": name, "pid": pid})
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    _shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
