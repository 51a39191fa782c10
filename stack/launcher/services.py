"""What the launcher starts: one :class:`ServiceSpec` per child process, as data.

Adding a service is one entry in :func:`infrastructure` or :func:`application`. A Python service is started only
when its module exists (other helpers land theirs over time), so the launcher works at every stage.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from stack.bootstrap import local_app_secret
from stack.launcher.ports import free_port
from stack.launcher.process import Readiness

Phase = Literal["infra", "app"]
AWS_SERVICES = ("sqs", "dynamodb", "secretsmanager", "s3", "events")
FAKE_PROVIDERS = ("strava", "fitbit", "garmin")
ZYGOTE = "zygote"


@dataclass(frozen=True)
class LaunchOptions:
    state_dir: Path
    keys_dir: Path
    redis: Literal["auto", "real", "fake"] = "auto"
    moto_server: Literal["threaded", "gevent"] = "threaded"
    sqs_speedup: bool = True
    worker_concurrency: int | None = None
    zygote: bool = True                  # fork the Python processes from one warm process (faster start)
    fake_config: Mapping[str, Any] | None = None  # startup config of the fakes (as PUT /_fake/config)
    workers: int = 1                     # worker processes: "worker" (1) or "worker-1".."worker-N" (chaos: AZs)
    fault_proxies: bool = True           # AWS chaos proxy and Redis fault proxy in front of moto and Redis
    dns_names: bool = True               # services reach the fakes by host name through the DNS hook


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    phase: Phase
    argv: list[str]
    module: str | None = None            # python module run with -m (None: an external program)
    port_flag: str | None = "--port"     # flag whose value is pinned to the bound port on restart
    readiness: Readiness = field(default_factory=Readiness)
    forked_by: str | None = None         # started by that fork server instead of exec'd
    control_stdin: bool = False          # the launcher writes commands to its stdin (the fork server)

    def available(self) -> bool:
        return self.module is None or module_available(self.module)


def module_available(module: str) -> bool:
    """True when ``python -m module`` can run, checked on disk so a half-written package is not imported."""
    top, _, rest = module.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return spec is not None and not rest
    base = Path(list(spec.submodule_search_locations)[0]).joinpath(*rest.split(".")) if rest else \
        Path(list(spec.submodule_search_locations)[0])
    return base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def infrastructure(options: LaunchOptions) -> list[ServiceSpec]:
    """Everything the services depend on: moto (one process per AWS service), Redis, the fakes, identity."""
    specs = [moto_spec(service, options) for service in AWS_SERVICES]
    specs.append(redis_spec(options))
    specs += [fake_spec(provider, options.fake_config) for provider in FAKE_PROVIDERS]
    specs.append(ServiceSpec("identity", "infra",
                             python_module("stack.identity", "--port", "0", "--keys-dir", str(options.keys_dir)),
                             module="stack.identity"))
    if options.zygote:
        return [zygote_spec()] + forked(specs, options)
    return specs


def application(options: LaunchOptions) -> list[ServiceSpec]:
    """The SyncWell services themselves."""
    return forked(_application(options), options) if options.zygote else _application(options)


def _application(options: LaunchOptions) -> list[ServiceSpec]:
    worker_args = ["--health-port", "0"]
    if options.worker_concurrency:
        worker_args += ["--concurrency", str(options.worker_concurrency)]
    return [
        ServiceSpec("api", "app", python_module("stack.api", "--port", "0"), module="stack.api"),
        *worker_specs(options.workers, worker_args),
        ServiceSpec("coalescer", "app", python_module("stack.coalescer", "--health-port", "0"),
                    module="stack.coalescer", port_flag="--health-port"),
        ServiceSpec("scheduler", "app", python_module("stack.scheduler", "--health-port", "0"),
                    module="stack.scheduler", port_flag="--health-port"),
        ServiceSpec("dlq", "app", python_module("stack.dlq", "--health-port", "0"),  # DLQ consumer (stack/dlq)
                    module="stack.dlq", port_flag="--health-port"),
    ]


def worker_specs(count: int, worker_args: list[str]) -> list[ServiceSpec]:
    """One worker is "worker"; several are "worker-1".."worker-N", each with its own backoff-jitter seed."""
    if count <= 1:
        return [ServiceSpec("worker", "app", python_module("stack.worker", *worker_args), module="stack.worker",
                            port_flag="--health-port")]
    return [ServiceSpec(f"worker-{i}", "app", python_module("stack.worker", *worker_args, "--seed", str(i)),
                        module="stack.worker", port_flag="--health-port") for i in range(1, count + 1)]


def fake_spec(provider: str, config: Mapping[str, Any] | None = None) -> ServiceSpec:
    """A fake provider that accepts exactly the OAuth app the bootstrap stores in Secrets Manager.

    ``config`` applies to every fake, except its ``providers`` key: ``{"strava": {...}}`` overrides one fake's
    keys (the providers' rate-limit settings have different shapes)."""
    app = local_app_secret(provider)
    args = ["--provider", provider, "--port", "0", "--client-id", app["clientId"],
            "--client-secret", app["clientSecret"]]
    own = {key: value for key, value in (config or {}).items() if key != "providers"}
    own.update(((config or {}).get("providers") or {}).get(provider, {}))
    if own:
        args += ["--config", json.dumps(own)]
    return ServiceSpec(f"fake-{provider}", "infra", python_module("fake_providers", *args), module="fake_providers")


def zygote_spec() -> ServiceSpec:
    return ServiceSpec(ZYGOTE, "infra", python_module("stack.launcher.zygote", "--moto"),
                       module="stack.launcher.zygote", port_flag=None, control_stdin=True)


def forked(specs: list[ServiceSpec], options: LaunchOptions | None = None) -> list[ServiceSpec]:
    """Python processes are forked from the fork server; external programs (redis-server) are exec'd, and so
    is moto under gevent (its monkey-patching must precede every import, which a fork server cannot offer)."""
    def exec_it(spec: ServiceSpec) -> bool:
        return not spec.module or (options is not None and options.moto_server == "gevent"
                                   and spec.name.startswith("moto-"))
    return [spec if exec_it(spec) else dataclasses.replace(spec, forked_by=ZYGOTE) for spec in specs]


def moto_spec(service: str, options: LaunchOptions) -> ServiceSpec:
    args = ["--service", service, "--port", "0", "--server", options.moto_server]
    if service == "sqs" and not options.sqs_speedup:
        args.append("--no-sqs-speedup")
    return ServiceSpec(f"moto-{service}", "infra", python_module("stack.launcher.moto_service", *args),
                       module="stack.launcher.moto_service")


def redis_spec(options: LaunchOptions) -> ServiceSpec:
    """A real redis-server when installed (no persistence: it is a cache), else fakeredis's TCP server."""
    binary = shutil.which("redis-server")
    if options.redis == "real" and binary is None:
        raise FileNotFoundError("redis-server is not on PATH (install it, or use --redis fake)")
    if binary and options.redis != "fake":
        port = free_port()
        url = f"redis://127.0.0.1:{port}/0"
        return ServiceSpec("redis", "infra",
                           [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--protected-mode", "no", "--loglevel", "notice"],
                           port_flag=None,
                           readiness=Readiness(pattern=r"Ready to accept connections",
                                               info={"service": "redis", "url": url,
                                                     "implementation": "redis-server"}))
    return ServiceSpec("redis", "infra", python_module("stack.launcher.fake_redis_service", "--port", "0"),
                       module="stack.launcher.fake_redis_service")


AllSpecs = Callable[[LaunchOptions], list[ServiceSpec]]
