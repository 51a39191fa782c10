"""Two regions of the stack on one machine: the primary (us-east-1) is an ordinary :class:`Stack`; the DR region
(us-west-2) is added to it: its own resources (table, queues, bus, bucket, secrets) in the same moto, its own Redis,
API, worker(s) and coalescer, plus the replicator between the two tables and the failover router.

    with RegionPair.start(RegionOptions(check_interval_s=0.5, dns_ttl_s=1), users=10) as pair:
        httpx.post(pair.router_url + "/v1/sync-jobs", ...)       # through Route 53
        pair.api_url("us-west-2"); pair.replicator_status(); pair.router_status()

One moto serves both regions (the region is in each request's signature, so the same table name is two tables);
each service process is region-agnostic and gets ``AWS_DEFAULT_REGION``/``AWS_REGION`` of its region. One Redis per
region: ElastiCache is a regional service, so a region outage takes its rate-limit buckets with it and the DR
region starts with empty ones. The fake providers are shared (they are the third parties, not ours), and their
webhooks go to the router (the public name), not to a region.

The DR processes are forked from the primary stack's fork server and registered in the Stack (``dr-api``,
``dr-worker``, ``dr-coalescer``, ``dr-redis``, ``replicator``, ``router``), so ``stack.kill_process``,
``restart_process``, the process faults and ``stack.stop()`` treat them like the others. No scheduler runs in the
DR region (two schedulers over one replicated table would enqueue every scheduled sync twice; 001's DR plan
activates compute in the DR region on failover, which the rehearsal does not automate).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import httpx

from stack import aws_clients
from stack.bootstrap import create_resources, local_app_secret
from stack.config import PROVIDERS, StackConfig
from stack.faults import launch as fault_launch
from stack.launcher.process import ForkedProcess, ManagedProcess
from stack.launcher.services import ZYGOTE, ServiceSpec, python_module, redis_spec, worker_specs
from stack.launcher.stack import REPO_ROOT, TABLE_NAME, Stack
from stack.region.health import DEFAULT_FAILURE_THRESHOLD, DEFAULT_INTERVAL_S, DEFAULT_TTL_S
from stack.region.topology import RegionTopology
from stack.seed import write_items

DR_PREFIX = "dr-"
REPLICATOR = "replicator"
ROUTER = "router"


@dataclass(frozen=True)
class RegionOptions:
    primary: str = "us-east-1"
    dr: str = "us-west-2"
    replication_lag_s: float = 1.0            # DynamoDB global tables: "typically within a second"
    replication_jitter_s: float = 0.0
    check_interval_s: float = DEFAULT_INTERVAL_S
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    check_timeout_s: float = 4.0
    dns_ttl_s: float = DEFAULT_TTL_S
    failback: Literal["automatic", "manual"] = "manual"   # 004 Runbook 2: "Do not fail back automatically"
    check_path: str = "/health"    # the seeds' checks (process only); "/health/deep" also sees DynamoDB and SQS
    dr_workers: int = 1


class RegionPair:
    def __init__(self, stack: Stack, options: RegionOptions) -> None:
        self.stack = stack
        self.options = options
        self.topology: RegionTopology | None = None
        self.rehearsals = 0      # runs on this pair: each draws fresh Idempotency-Keys (else the API replays)
        _serialize_state_writes(stack)

    # ---- construction ----------------------------------------------------------------------------------------
    @classmethod
    def start(cls, options: RegionOptions | None = None, users: int = 20, seed: int = 1,
              state_dir: str | Path | None = None, deadline_s: float = 120.0,
              **stack_kwargs: Any) -> "RegionPair":
        """The primary stack (``Stack.start`` with ``stack_kwargs``), then the DR region, replicator and router."""
        options = options or RegionOptions()
        stack = Stack.start(users=users, seed=seed, state_dir=state_dir, deadline_s=deadline_s, **stack_kwargs)
        pair = cls(stack, options)
        try:
            pair._add_dr_region()
        except BaseException:
            stack.stop()
            raise
        return pair

    def __enter__(self) -> "RegionPair":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stack.stop()

    def _add_dr_region(self) -> None:
        o, stack = self.options, self.stack
        dr_env = self.region_aws_env(o.dr)
        dr_config = StackConfig.from_env({**stack.service_env(), **self._region_overrides(o.dr)})
        create_resources(dr_config, dr_env, app_secrets={p: local_app_secret(p) for p in PROVIDERS})
        copy_secrets(stack.aws_env, dr_env)
        redis = dataclasses.replace(redis_spec(stack.options), name=DR_PREFIX + "redis")
        upstream = stack.service_env().get("AWS_ENDPOINT_URL_DYNAMODB") or stack.endpoints["moto-dynamodb"]
        replicator = ServiceSpec(REPLICATOR, "infra", python_module(
            "stack.region.replicator", "--table", TABLE_NAME, "--moto", stack.endpoints["moto-dynamodb"],
            "--capture", f"{o.primary}={upstream}", "--capture", f"{o.dr}={upstream}",
            "--lag-s", str(o.replication_lag_s), "--jitter-s", str(o.replication_jitter_s),
            "--seed", str(stack.seed), "--port", "0"), module="stack.region.replicator")
        self.launch([(redis, {}), (replicator, stack.service_env())])
        capture = stack.ready_info[REPLICATOR]["capture"]
        # The primary's services now reach DynamoDB through the capture listener (restarted on the same ports).
        primary_apps = [n for n, s in list(stack.specs.items()) if s.phase == "app"]
        for name in primary_apps:
            stack.processes[name].env["AWS_ENDPOINT_URL_DYNAMODB"] = capture[o.primary]
        with ThreadPoolExecutor(max(1, len(primary_apps))) as pool:
            list(pool.map(stack.restart_process, primary_apps))
        # A new replica starts as a copy of the table (what adding a global-table replica does).
        backfill_table(stack.aws_env, dr_env)
        dr_overrides = {**self._region_overrides(o.dr), "AWS_ENDPOINT_URL_DYNAMODB": capture[o.dr],
                        "SYNCWELL_REDIS_URL": stack.endpoints[DR_PREFIX + "redis"]}
        self.launch([(self._dr_spec(spec), {**stack.service_env(), **dr_overrides}) for spec in self._dr_app_specs()])
        router = ServiceSpec(ROUTER, "app", python_module(
            "stack.region.router", "--primary", f"{o.primary}={stack.api_url}",
            "--secondary", f"{o.dr}={stack.endpoints[DR_PREFIX + 'api']}",
            "--interval-s", str(o.check_interval_s), "--failure-threshold", str(o.failure_threshold),
            "--timeout-s", str(o.check_timeout_s), "--ttl-s", str(o.dns_ttl_s), "--failback", o.failback,
            "--check-path", o.check_path, "--port", "0"), module="stack.region.router")
        self.launch([(router, stack.service_env())])
        self._point_webhooks_at(self.router_url)
        self.topology = RegionTopology(
            primary=o.primary, dr=o.dr,
            processes={o.primary: primary_apps, o.dr: [DR_PREFIX + s.name for s in self._dr_app_specs()]},
            replicator_url=stack.endpoints[REPLICATOR], capture_urls=dict(capture), router_url=self.router_url,
            api_urls={o.primary: str(stack.api_url), o.dr: stack.endpoints[DR_PREFIX + "api"]},
            redis_urls={o.primary: str(stack.redis_url), o.dr: stack.endpoints[DR_PREFIX + "redis"]},
            table=TABLE_NAME, moto_dynamodb_url=stack.endpoints["moto-dynamodb"],
            # What each region's processes run with beyond the stack's service environment (the state file's is
            # the primary's without its capture listener): a restart from the state file applies it.
            env={o.primary: {"AWS_ENDPOINT_URL_DYNAMODB": capture[o.primary]}, o.dr: dr_overrides})
        self.topology.write(stack.state_dir)
        stack._write_state()

    def _dr_app_specs(self) -> list[ServiceSpec]:
        worker_args = ["--health-port", "0"]
        return [ServiceSpec("api", "app", python_module("stack.api", "--port", "0"), module="stack.api"),
                *worker_specs(self.options.dr_workers, worker_args),
                ServiceSpec("coalescer", "app", python_module("stack.coalescer", "--health-port", "0"),
                            module="stack.coalescer", port_flag="--health-port")]

    def _dr_spec(self, spec: ServiceSpec) -> ServiceSpec:
        spec = dataclasses.replace(spec, name=DR_PREFIX + spec.name)
        return fault_launch.hooked(spec) if self.stack.hosts_file is not None else spec

    def _region_overrides(self, region: str) -> dict[str, str]:
        return {"AWS_DEFAULT_REGION": region, "AWS_REGION": region, "SWSIM_REGION": region,
                "SYNCWELL_EXPORT_BUCKET": f"syncwell-exports-{region}"}

    def _point_webhooks_at(self, base_url: str) -> None:
        """Providers call the public name (the router), which sends them to the region that serves."""
        for provider in PROVIDERS:
            if f"fake-{provider}" not in self.stack.endpoints:
                continue
            body = {"webhook_url": f"{base_url}/webhooks/{provider}",
                    "verify_code": local_app_secret(provider)["subscriberVerificationCode"]}
            httpx.put(f"{self.stack.fake_url(provider)}/_fake/config", json=body, timeout=10).raise_for_status()

    # ---- processes -------------------------------------------------------------------------------------------
    def launch(self, specs: list[tuple[ServiceSpec, Mapping[str, str]]]) -> None:
        """Start processes with their own environment, registered in the stack like its own children."""
        stack = self.stack
        server = stack.processes.get(ZYGOTE)
        started: list[tuple[ServiceSpec, ManagedProcess | ForkedProcess]] = []
        for spec, env in specs:
            full_env = {**env, "SWSIM_SERVICE_NAME": spec.name}
            process: ManagedProcess | ForkedProcess
            if spec.module and isinstance(server, ManagedProcess) and server.running:
                spec = dataclasses.replace(spec, forked_by=ZYGOTE)
                process = ForkedProcess(spec.name, server, spec.argv, full_env, stack.log_dir, spec.readiness,
                                        cwd=str(REPO_ROOT))
            else:
                process = ManagedProcess(spec.name, spec.argv, full_env, stack.log_dir, spec.readiness,
                                         cwd=str(REPO_ROOT))
            stack.specs[spec.name] = spec
            stack.processes[spec.name] = process
            process.start()
            started.append((spec, process))
        deadline = time.monotonic() + stack.deadline_s
        for spec, process in started:
            stack._record_ready(spec.name, process.wait_ready(deadline))

    # ---- accessors -------------------------------------------------------------------------------------------
    @property
    def router_url(self) -> str:
        return self.stack.endpoints[ROUTER]

    @property
    def replicator_url(self) -> str:
        return self.stack.endpoints[REPLICATOR]

    def api_url(self, region: str) -> str:
        return str(self.stack.api_url) if region == self.options.primary else self.stack.endpoints[DR_PREFIX + "api"]

    def region_aws_env(self, region: str) -> dict[str, str]:
        """Direct (no proxy) credentials and endpoints, for the harness, in ``region``."""
        return {**self.stack.aws_env, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}

    def replicator_status(self) -> dict[str, Any]:
        return httpx.get(self.replicator_url + "/status", timeout=10).json()

    def router_status(self) -> dict[str, Any]:
        return httpx.get(self.router_url + "/_router/status", timeout=10).json()

    def describe(self) -> dict[str, Any]:
        assert self.topology is not None
        return {"options": dataclasses.asdict(self.options), "topology": dataclasses.asdict(self.topology),
                "state_dir": str(self.stack.state_dir)}


def _serialize_state_writes(stack: Stack) -> None:
    """The pair restarts several processes at once (the primary's services onto the capture listener, a region
    outage's rollback) and each ``restart_process`` rewrites the state file through one fixed ``state.json.tmp``:
    two at once race (FileNotFoundError in ``os.replace``). One lock around the stack's state writes."""
    if getattr(stack, "_region_state_lock", None) is not None:
        return
    lock = threading.Lock()
    write = stack._write_state

    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return write(*args, **kwargs)

    stack._region_state_lock = lock  # type: ignore[attr-defined]
    stack._write_state = locked  # type: ignore[method-assign]


def copy_secrets(source_env: Mapping[str, str], destination_env: Mapping[str, str]) -> int:
    """Every secret of the source region replicated to the destination (Secrets Manager's replica secrets)."""
    source = aws_clients.client("secretsmanager", source_env)
    destination = aws_clients.client("secretsmanager", destination_env)
    names = [s["Name"] for page in source.get_paginator("list_secrets").paginate() for s in page["SecretList"]]

    def copy(name: str) -> None:
        value = source.get_secret_value(SecretId=name)["SecretString"]
        try:
            destination.create_secret(Name=name, SecretString=value)
        except destination.exceptions.ResourceExistsException:
            destination.put_secret_value(SecretId=name, SecretString=value)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(copy, names))
    return len(names)


def backfill_table(source_env: Mapping[str, str], destination_env: Mapping[str, str],
                   table: str = TABLE_NAME) -> int:
    """Copy every item of the source region's table into the destination's (a replica's initial fill)."""
    from boto3.dynamodb.types import TypeDeserializer

    client = aws_clients.client("dynamodb", source_env)
    deserializer = TypeDeserializer()
    items = [{k: deserializer.deserialize(v) for k, v in item.items()}
             for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    write_items(table, items, destination_env)
    return len(items)




def reconfigure(pair: RegionPair, options: RegionOptions) -> None:
    """Apply another rehearsal's parameters to a running pair: the replication lag at once (replicator control
    API), the routing parameters by restarting the router on its port (its health state starts afresh)."""
    httpx.put(pair.replicator_url + "/config", json={"lag_s": options.replication_lag_s,
                                                     "jitter_s": options.replication_jitter_s},
              timeout=10).raise_for_status()
    old = pair.options
    routing = ("check_interval_s", "failure_threshold", "check_timeout_s", "dns_ttl_s", "failback", "check_path")
    pair.options = options
    if all(getattr(old, k) == getattr(options, k) for k in routing):
        return
    process = pair.stack.process(ROUTER)
    argv = list(process.argv)
    for flag, value in (("--interval-s", options.check_interval_s), ("--failure-threshold", options.failure_threshold),
                        ("--timeout-s", options.check_timeout_s), ("--ttl-s", options.dns_ttl_s),
                        ("--failback", options.failback), ("--check-path", options.check_path)):
        argv[argv.index(flag) + 1] = str(value)
    process.argv = argv
    pair.stack.restart_process(ROUTER)
