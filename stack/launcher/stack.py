"""The embedded stack as one object: start every process, bootstrap, seed, expose endpoints, stop everything.

    with Stack.start(users=20) as stack:
        httpx.get(stack.api_url + "/health")
        stack.kill_process("worker")

Processes start in parallel in two phases (infrastructure, then the services while users are seeded). Every
child runs in its own process group and dies with the launcher (PR_SET_PDEATHSIG), and :meth:`Stack.stop` (also
run at exit and on SIGTERM by ``swsim up``) stops each group, so no process is left behind.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Mapping

from stack.config import PROVIDERS
from stack.launcher import identity_keys
from stack.launcher.process import ForkedProcess, ManagedProcess, ProcessFailed
from stack.launcher.zygote import EXIT_PREFIX, FORKED_PREFIX
from stack.launcher.services import (AWS_SERVICES, ZYGOTE, LaunchOptions, ServiceSpec, application, forked,
                                     infrastructure, python_module)
from stack.seed import SeedResult, SeededUser
from stack.faults import launch as fault_launch

if TYPE_CHECKING:
    from stack.bootstrap import BootstrapResult

# Heavy libraries (boto3, httpx, yaml) are imported where used: the launcher's own start-up is on the critical
# path of ``swsim up`` (the fork server starts only once this module is imported).
REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_FILE_NAME = "state.json"
TABLE_NAME = "SyncWellMetadata"
ENDPOINT_ENV = {"sqs": "AWS_ENDPOINT_URL_SQS", "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
                "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER", "s3": "AWS_ENDPOINT_URL_S3",
                "events": "AWS_ENDPOINT_URL_EVENTBRIDGE"}
# Variables of the caller's shell that would point the children at something else than this stack.
SCRUBBED_ENV_PREFIXES = ("AWS_", "SYNCWELL_")


class StackStartError(Exception):
    """The stack could not come up; the message names the process and why (exit code, stderr tail)."""


@dataclass
class ChildFailure:
    name: str
    exit_code: int | None
    stderr_tail: str


@dataclass
class Timings:
    infra_s: float = 0.0
    bootstrap_s: float = 0.0
    app_s: float = 0.0
    seed_s: float = 0.0
    total_s: float = 0.0
    per_process_s: dict[str, float] = field(default_factory=dict)
    provision_cpu_s: float = 0.0     # CPU the (exited) provisioning process used: bootstrap + seeding


class Stack:
    def __init__(self, options: LaunchOptions, users: int, seed: int, appconfig: Mapping[str, Any] | None,
                 owns_state_dir: bool, deadline_s: float, services: set[str] | None,
                 extra_env: Mapping[str, str] | None = None,
                 extra_services: list[ServiceSpec] | None = None) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self.log_dir = options.state_dir / "logs"
        self.user_count = users
        self.seed = seed
        self.appconfig = dict(appconfig or {})
        self.deadline_s = deadline_s
        self.only_services = services
        self.extra_env = dict(extra_env or {})
        self.extra_services = list(extra_services or [])
        self._owns_state_dir = owns_state_dir
        self.processes: dict[str, ManagedProcess | ForkedProcess] = {}
        self.specs: dict[str, ServiceSpec] = {}
        self.endpoints: dict[str, str] = {}
        self.ready_info: dict[str, dict[str, Any]] = {}
        self.resources: "BootstrapResult | None" = None
        self.users: list[SeededUser] = []
        self.timings = Timings()
        self.failures: list[ChildFailure] = []
        self.on_child_failure: Callable[[ChildFailure], None] | None = None
        self._stopped = threading.Event()
        self._monitor: threading.Thread | None = None
        self._minter: Any = None
        self._fault_env: dict[str, str] = {}
        self.hosts_file: Path | None = None

    # ---- construction ----------------------------------------------------------------------------------------
    @classmethod
    def start(cls, users: int = 100, state_dir: str | os.PathLike[str] | None = None, seed: int = 1,
              appconfig: Mapping[str, Any] | None = None, services: set[str] | None = None,
              redis: Literal["auto", "real", "fake"] = "auto",
              moto_server: Literal["threaded", "gevent"] = "threaded", sqs_speedup: bool = True,
              worker_concurrency: int | None = None, deadline_s: float = 60.0, zygote: bool = True,
              extra_env: Mapping[str, str] | None = None,
              extra_services: list[ServiceSpec] | None = None, workers: int = 1, fault_proxies: bool = True,
              dns_names: bool = True, fake_config: Mapping[str, Any] | None = None) -> "Stack":
        """Bring the stack up and return it running; raises :class:`StackStartError` (everything stopped).

        ``services`` limits the processes started (names as in ``stack.processes``; default: all available);
        ``appconfig`` overrides keys of stack/defaults.yaml for every service and the bootstrap (e.g.
        ``{"coalescer": {"delay_s": 2}}``); ``extra_services`` adds processes of your own (their phase decides
        when they start; they get the same environment as the services); ``fake_config`` is the fakes' startup
        configuration (keys of ``PUT /_fake/config``, e.g. ``{"history_days": 7}`` for quicker syncs).
        Fault layers (stack.faults): ``workers`` worker processes ("worker", or "worker-1".."worker-N");
        ``fault_proxies`` puts the AWS chaos proxy and the Redis fault proxy between the services and moto/Redis
        (the harness's own clients, ``aws_env``, stay direct); ``dns_names`` gives the services the fakes' URLs
        by host name (``fake-strava.swsim.internal``), resolved by the DNS hook (stack.faults.resolver).
        """
        owns = state_dir is None
        root = Path(tempfile.mkdtemp(prefix="swsim-stack-")) if owns else Path(state_dir)  # type: ignore[arg-type]
        (root / "logs").mkdir(parents=True, exist_ok=True)
        options = LaunchOptions(state_dir=root, keys_dir=root / "keys", redis=redis, moto_server=moto_server,
                                sqs_speedup=sqs_speedup, worker_concurrency=worker_concurrency,
                                zygote=zygote, workers=workers, fault_proxies=fault_proxies, dns_names=dns_names,
                                fake_config=fake_config)
        stack = cls(options, users, seed, appconfig, owns, deadline_s, services, extra_env, extra_services)
        atexit.register(stack.stop)
        try:
            stack._bring_up()
        except BaseException as exc:
            stack.stop()
            if isinstance(exc, (ProcessFailed, FileNotFoundError)):
                raise StackStartError(str(exc)) from exc
            raise
        return stack

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- bring-up --------------------------------------------------------------------------------------------
    def _bring_up(self) -> None:
        """Infrastructure (fork server first), then one provisioning process (bootstrap, then seeding) while the
        services start as soon as the bootstrap is done; ready when the services are and the users seeded."""
        started = time.monotonic()
        self._write_appconfig()
        infra = self._select(split_fork_servers(infrastructure(self.options)) + self._extra("infra"))
        identity_keys.restore(self.keys_dir)   # cached issuer keys: no RSA key generation on the critical path
        self._launch(infra)
        # The bootstrap needs moto alone and the seeding the fakes too: start them while the rest comes up.
        early = [spec for spec in infra if spec.name.startswith(("moto-", "fake-"))]
        self._await(early)
        has_aws = all(f"moto-{service}" in self.endpoints for service in AWS_SERVICES)
        provisioning = self._start_provisioning() if has_aws else None  # a partial stack (--only) skips both
        self._await(spec for spec in infra if spec not in early)
        self.timings.infra_s = time.monotonic() - started
        identity_keys.remember(self.keys_dir)
        self._start_and_wait(self._fault_proxy_specs())

        t0 = time.monotonic()
        if provisioning is not None:
            info = provisioning.wait_ready(time.monotonic() + self.deadline_s)
            self.resources = info.get("resources")  # type: ignore[assignment]
        self.timings.bootstrap_s = time.monotonic() - t0     # what remained of it once the infrastructure was up

        t0 = time.monotonic()
        self._enable_fault_layers()
        apps = [self._hooked(s) for s in self._select(application(self.options) + self._extra("app"))]
        self._start_and_wait(apps)
        self.timings.app_s = time.monotonic() - t0
        if provisioning is not None:
            seeded = self._finish_provisioning(provisioning)
            self.users = seeded.users
            self.timings.seed_s = seeded.seconds
        self._configure_fakes()
        self.timings.total_s = time.monotonic() - started
        self._write_state()
        self._monitor = threading.Thread(target=self._watch_children, name="stack-monitor", daemon=True)
        self._monitor.start()

    # ---- provisioning (stack.launcher.provision) ---------------------------------------------------------------
    def _start_provisioning(self) -> ManagedProcess | ForkedProcess:
        """Bootstrap and seeding in one process of their own (forked warm: boto3 and its models are loaded)."""
        fakes = self._fake_urls()
        seed_users = self.user_count if len(fakes) == len(PROVIDERS) else 0
        argv = python_module("stack.launcher.provision", "--out", str(self._provision_file), "--users",
                             str(seed_users), "--seed", str(self.seed), "--fake-urls", json.dumps(fakes))
        # The services' fork server has boto3's models loaded; a partial stack may only run moto's (or none).
        server = next((self.processes[name] for name in (ZYGOTE, MOTO_ZYGOTE)
                       if isinstance(self.processes.get(name), ManagedProcess) and self.processes[name].running), None)
        spec = ServiceSpec("provision", "infra", argv, module="stack.launcher.provision", port_flag=None,
                           forked_by=server.name if server is not None else None)
        env = {**self.service_env(), **self.aws_env, **self._env_for(spec)}   # straight to moto, not the proxies
        process: ManagedProcess | ForkedProcess
        if isinstance(server, ManagedProcess):
            process = ForkedProcess(spec.name, server, argv, env, self.log_dir, spec.readiness, cwd=str(REPO_ROOT))
        else:
            process = ManagedProcess(spec.name, argv, env, self.log_dir, spec.readiness, cwd=str(REPO_ROOT))
        self.specs[spec.name] = spec
        self.processes[spec.name] = process   # registered so the fork server's lines reach it
        process.start()
        process.expected_exit = True          # it exits when done: not a failure for the monitor
        return process

    @property
    def _provision_file(self) -> Path:
        return self.state_dir / "provision.json"

    def _finish_provisioning(self, process: ManagedProcess | ForkedProcess) -> SeedResult:
        """Wait for the seeding to end; its result file is written last, atomically, so it is the success signal."""
        deadline = time.monotonic() + self.deadline_s
        while process.poll() is None:
            if time.monotonic() > deadline:
                raise ProcessFailed(f"provision did not finish seeding in time\n{process.stderr_tail()}")
            time.sleep(0.02)
        if not self._provision_file.exists():
            raise ProcessFailed(f"provision exited with code {process.poll()} while seeding\n"
                                f"{process.stderr_tail()}")
        self.processes.pop(process.name, None)
        self.specs.pop(process.name, None)
        result = json.loads(self._provision_file.read_text())
        self.timings.provision_cpu_s = float(result.get("cpu_s", 0.0))
        return SeedResult.from_json(result["users"], float(result["seed_s"]))

    def _extra(self, phase: str) -> list[ServiceSpec]:
        return [spec for spec in self.extra_services if spec.phase == phase]

    def _select(self, specs: list[ServiceSpec]) -> list[ServiceSpec]:
        """The wanted specs, plus the fork server of any wanted forked process."""
        wanted = [spec for spec in specs if self._wanted(spec)]
        servers = {spec.forked_by for spec in wanted if spec.forked_by}
        return [spec for spec in specs if spec in wanted or (spec.name in servers and spec.available())]

    def _wanted(self, spec: ServiceSpec) -> bool:
        if self.only_services is not None and spec.name not in self.only_services:
            return False
        return spec.available()

    def _start_and_wait(self, specs: list[ServiceSpec]) -> None:
        self._launch(specs)
        self._await(specs)

    def _launch(self, specs: list[ServiceSpec]) -> None:
        """Start the exec'd processes, then ask the fork servers for theirs (each once its server is ready)."""
        env = self.service_env()
        for spec in specs:
            if spec.forked_by:
                continue
            process = ManagedProcess(spec.name, spec.argv, {**env, **self._env_for(spec)}, self.log_dir,
                                     spec.readiness, cwd=str(REPO_ROOT), control_stdin=spec.control_stdin,
                                     on_line=self._on_fork_server_line if spec.control_stdin else None)
            self.specs[spec.name] = spec
            self.processes[spec.name] = process
            process.start()
        self._fork(spec for spec in specs if spec.forked_by)

    def _await(self, specs: Iterable[ServiceSpec]) -> None:
        deadline = time.monotonic() + self.deadline_s
        for spec in specs:
            process = self.processes[spec.name]
            info = process.wait_ready(deadline)
            self._record_ready(spec.name, info)
            self.timings.per_process_s[spec.name] = round(process.ready_at - process.started_at, 3)

    def _fork(self, specs: Iterable[ServiceSpec]) -> None:
        """Ask the fork server(s) for their processes, once each server is ready."""
        deadline = time.monotonic() + self.deadline_s
        for spec in specs:
            server = self.processes.get(str(spec.forked_by))
            if not isinstance(server, ManagedProcess):
                raise ProcessFailed(f"{spec.name} needs the fork server {spec.forked_by!r}, which is not running")
            server.wait_ready(deadline)
            process = ForkedProcess(spec.name, server, spec.argv, {**self.service_env(), **self._env_for(spec)},
                                    self.log_dir, spec.readiness, cwd=str(REPO_ROOT))
            self.specs[spec.name] = spec
            self.processes[spec.name] = process
            process.start()

    def _on_fork_server_line(self, line: str) -> None:
        for prefix, kind in ((FORKED_PREFIX, "forked"), (EXIT_PREFIX, "exit")):
            if line.startswith(prefix):
                info = json.loads(line[len(prefix):])
                process = self.processes.get(str(info.get("name")))
                if isinstance(process, ForkedProcess):
                    process.on_server_line(kind, info)

    def _record_ready(self, name: str, info: dict[str, Any]) -> None:
        self.ready_info[name] = info
        if info.get("url"):
            self.endpoints[name] = str(info["url"]).rstrip("/")
        elif info.get("health_url"):
            self.endpoints[name] = str(info["health_url"]).rstrip("/")

    # ---- fault layers (stack.faults.launch) ----------------------------------------------------------------------
    def _fault_proxy_specs(self) -> list[ServiceSpec]:
        """The fault proxies, when on and the stack is whole (a partial stack starts them only when named)."""
        if not self.options.fault_proxies:
            return []
        specs = fault_launch.proxy_specs(self.endpoints, self.seed)
        if self.only_services is not None:
            specs = [spec for spec in specs if spec.name in self.only_services]
        return self._select(forked(specs) if self.options.zygote else specs)

    def _enable_fault_layers(self) -> None:
        """From here on the services' environment goes through the proxies and the DNS hook."""
        fakes = self._fake_urls()
        if self.options.dns_names and fakes:
            self.hosts_file = fault_launch.write_hosts_file(self.state_dir, fakes)
        self._fault_env = fault_launch.proxied_env(self.ready_info)
        if self.hosts_file is not None:
            self._fault_env["SWSIM_HOSTS_FILE"] = str(self.hosts_file)
            self._fault_env.update({f"SYNCWELL_PROVIDER_URL_{p.upper()}": url
                                    for p, url in fault_launch.named_provider_urls(fakes).items()})

    def _fake_urls(self) -> dict[str, str]:
        return {p: self.fake_url(p) for p in PROVIDERS if f"fake-{p}" in self.endpoints}

    def _hooked(self, spec: ServiceSpec) -> ServiceSpec:
        return fault_launch.hooked(spec) if self.hosts_file is not None else spec

    @property
    def worker_names(self) -> list[str]:
        """The worker processes, in order ("worker", or "worker-1".."worker-N")."""
        from stack.faults.processes import worker_names_of

        return worker_names_of(list(self.processes))

    @property
    def aws_chaos_url(self) -> str | None:
        """The AWS chaos proxy's control/edge URL (LocalStack's Chaos API under /_localstack/chaos/)."""
        return self.ready_info.get(fault_launch.AWS_PROXY, {}).get("url")

    @property
    def redis_proxy_url(self) -> str | None:
        """The Redis fault proxy's control API URL (toxics)."""
        return self.ready_info.get(fault_launch.REDIS_PROXY, {}).get("control_url")

    def _env_for(self, spec: ServiceSpec) -> dict[str, str]:
        return {"SWSIM_SERVICE_NAME": spec.name}

    def _write_appconfig(self) -> None:
        if self.appconfig:
            import yaml

            path = self.state_dir / "appconfig.yaml"
            path.write_text(yaml.safe_dump(self.appconfig))

    def _configure_fakes(self) -> None:
        """Point each fake's webhooks at the API (known only now) with the verification code we store."""
        if not self.api_url:
            return
        import httpx
        from stack.bootstrap import local_app_secret

        for provider in PROVIDERS:
            if f"fake-{provider}" not in self.endpoints:
                continue
            body = {"webhook_url": f"{self.api_url}/webhooks/{provider}",
                    "verify_code": local_app_secret(provider)["subscriberVerificationCode"]}
            response = httpx.put(f"{self.fake_url(provider)}/_fake/config", json=body, timeout=10)
            if response.status_code >= 400:
                raise ProcessFailed(f"fake-{provider} refused its configuration: {response.status_code} "
                                    f"{response.text[:300]}")

    # ---- environment -----------------------------------------------------------------------------------------
    @property
    def aws_env(self) -> dict[str, str]:
        """Credentials, region and the per-service endpoint variables boto3 honours."""
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
        for service in AWS_SERVICES:
            url = self.endpoints.get(f"moto-{service}")
            if url:
                env[ENDPOINT_ENV[service]] = url
        return env

    def service_env(self) -> dict[str, str]:
        """The full environment every SyncWell service process runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}
        env.update(self.aws_env)
        env.update({"SYNCWELL_TABLE_NAME": TABLE_NAME, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        if "redis" in self.endpoints:
            env["SYNCWELL_REDIS_URL"] = self.endpoints["redis"]
        for provider in PROVIDERS:
            if f"fake-{provider}" in self.endpoints:
                env[f"SYNCWELL_PROVIDER_URL_{provider.upper()}"] = self.fake_url(provider)
        issuers = self.ready_info.get("identity", {}).get("issuers")
        if issuers:
            env["SYNCWELL_JWT_ISSUERS"] = json.dumps(issuers)
        if self.appconfig:
            env["SYNCWELL_APPCONFIG_FILE"] = str(self.state_dir / "appconfig.yaml")
        env.update(self._fault_env)
        env.update(self.extra_env)
        return env

    # ---- accessors -------------------------------------------------------------------------------------------
    @property
    def api_url(self) -> str | None:
        return self.endpoints.get("api")

    @property
    def redis_url(self) -> str | None:
        return self.endpoints.get("redis")

    def fake_url(self, provider: str) -> str:
        return self.endpoints[f"fake-{provider}"]

    def health_url(self, name: str) -> str | None:
        """A service's health endpoint (``GET`` -> 200 JSON), from its readiness line."""
        info = self.ready_info.get(name, {})
        if info.get("health_url"):
            return str(info["health_url"])
        return f"{self.endpoints[name]}/health" if name in self.endpoints else None

    @property
    def keys_dir(self) -> Path:
        return self.options.keys_dir

    @property
    def minter(self) -> Any:
        """``stack.identity.TokenMinter`` over this stack's issuer keys: ``stack.minter.mint("firebase", uid)``."""
        if self._minter is None:
            from stack.identity import TokenMinter

            self._minter = TokenMinter(self.keys_dir)
        return self._minter

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE_NAME

    def process(self, name: str) -> ManagedProcess | ForkedProcess:
        try:
            return self.processes[name]
        except KeyError:
            raise KeyError(f"no process {name!r}; the stack runs {sorted(self.processes)}") from None

    def pids(self) -> dict[str, int | None]:
        return {name: p.pid for name, p in self.processes.items()}

    # ---- fault helpers (chaos, tests) -------------------------------------------------------------------------
    def kill_process(self, name: str) -> None:
        """SIGKILL a child's process group (a crash)."""
        self.process(name).kill()
        self._write_state()

    def stop_process(self, name: str) -> None:
        """Stop a child cleanly (SIGTERM, then SIGKILL after 3 s)."""
        self.process(name).stop()
        self._write_state()

    def pause_process(self, name: str) -> None:
        """SIGSTOP: the process keeps its port and state but answers nothing (a hung dependency)."""
        self.process(name).send_signal(signal.SIGSTOP)

    def resume_process(self, name: str) -> None:
        self.process(name).send_signal(signal.SIGCONT)

    def restart_process(self, name: str) -> dict[str, Any]:
        """Start a stopped (or running: it is stopped first) child again on the same port; wait until ready.

        State held in memory is lost (moto's data, Redis's buckets), as it would be on a real restart."""
        process = self.process(name)
        if process.running:
            process.stop()
        spec = self.specs[name]
        port = _port_of(self.ready_info.get(name, {}))
        if spec.port_flag and port:
            process.argv = _with_flag(process.argv, spec.port_flag, str(port))
        process.start()
        info = process.wait_ready(time.monotonic() + self.deadline_s)
        self._record_ready(name, info)
        self._write_state()
        return info

    # ---- monitoring & shutdown -------------------------------------------------------------------------------
    def _watch_children(self) -> None:
        reported: set[tuple[str, int | None]] = set()
        while not self._stopped.wait(0.25):
            for name, process in list(self.processes.items()):
                code = process.poll()
                if code is None or process.expected_exit or (name, process.pid) in reported:
                    continue
                reported.add((name, process.pid))
                failure = ChildFailure(name, code, process.stderr_tail())
                self.failures.append(failure)
                if self.on_child_failure is not None:
                    self.on_child_failure(failure)

    def stop(self) -> None:
        """Stop every child (services first, infrastructure last), in parallel; idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        apps = [p for n, p in self.processes.items() if self.specs[n].phase == "app"]
        forked = [p for n, p in self.processes.items() if self.specs[n].phase != "app" and self.specs[n].forked_by]
        infra = [p for n, p in self.processes.items() if self.specs[n].phase != "app" and not self.specs[n].forked_by]
        for group in (apps, forked, infra):
            threads = [threading.Thread(target=p.stop, daemon=True) for p in group]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
        if self._monitor is not None:
            self._monitor.join(1)
        if self._owns_state_dir and os.environ.get("SWSIM_KEEP_STATE") != "1":
            shutil.rmtree(self.state_dir, ignore_errors=True)
        else:
            self._write_state(stopped=True)

    def wait(self) -> Iterator[ChildFailure]:
        """Yield child failures as they happen until :meth:`stop` is called (``swsim up``'s main loop)."""
        seen = 0
        while not self._stopped.wait(0.2):
            while seen < len(self.failures):
                seen += 1
                yield self.failures[seen - 1]

    # ---- state file ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Everything other tools need to find and drive this stack (also written to the state file)."""
        return {
            "state_dir": str(self.state_dir),
            "log_dir": str(self.log_dir),
            "endpoints": dict(self.endpoints),
            "api_url": self.api_url,
            "redis_url": self.redis_url,
            "health_urls": {n: self.health_url(n) for n in self.processes if self.health_url(n)},
            "processes": {n: {"pid": p.pid, "running": p.running, "argv": p.argv,
                              "stdout": str(p.stdout_path), "stderr": str(p.stderr_path)}
                          for n, p in self.processes.items()},
            "aws_env": self.aws_env,
            "service_env": {k: v for k, v in self.service_env().items()
                            if k.startswith(SCRUBBED_ENV_PREFIXES)},
            "resources": dict(self.resources or {}),
            "keys_dir": str(self.keys_dir),
            "users": len(self.users),
            "users_file": str(self.state_dir / "users.json"),
            "timings": self.timings.__dict__,
            "faults": fault_launch.faults_block(self.ready_info, self.hosts_file, self._fake_urls(), self.worker_names),
        }

    def _write_state(self, stopped: bool = False) -> None:
        if not self.state_dir.exists():
            return
        state = self.describe()
        state["stopped"] = stopped
        _atomic_write(self.state_file, json.dumps(state, indent=2))
        users_file = self.state_dir / "users.json"
        if self.users and not users_file.exists():
            from dataclasses import asdict

            _atomic_write(users_file, json.dumps([asdict(u) for u in self.users]))


MOTO_ZYGOTE = "zygote-moto"


def split_fork_servers(specs: list[ServiceSpec]) -> list[ServiceSpec]:
    """Two fork servers instead of one: moto's (builds its five apps) and the services' (imports their libraries,
    loads boto3's models). Each preloads about half of the ~2.5 s of CPU, so on two cores they finish in about
    half the time, and the moto processes can start while the services' libraries are still loading."""
    moto = [spec for spec in specs if spec.forked_by == ZYGOTE and spec.name.startswith("moto-")]
    if not moto:
        return specs
    out: list[ServiceSpec] = []
    for spec in specs:
        if spec.name == ZYGOTE:
            out.append(dataclasses.replace(spec, argv=[arg for arg in spec.argv if arg != "--moto"]))
            out.append(dataclasses.replace(spec, name=MOTO_ZYGOTE,
                                           argv=python_module("stack.launcher.zygote", "--only-moto")))
        elif spec in moto:
            out.append(dataclasses.replace(spec, forked_by=MOTO_ZYGOTE))
        else:
            out.append(spec)
    return out


def load_state(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The state file of a running stack (for tools started separately: load, chaos)."""
    path = Path(state_dir)
    path = path if path.is_file() else path / STATE_FILE_NAME
    return json.loads(path.read_text())


def _atomic_write(path: Path, text: str) -> None:
    # A temp name per writer: restarts in parallel threads (the region pair) write the state at the same time.
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _port_of(info: Mapping[str, Any]) -> int | None:
    for key in ("url", "health_url"):
        match = re.search(r":(\d+)(/|$)", str(info.get(key, "")))
        if match:
            return int(match.group(1))
    return None


def _with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    if flag in out:
        out[out.index(flag) + 1] = value
    else:
        out += [flag, value]
    return out
