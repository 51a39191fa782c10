"""How the embedded launcher (stack.launcher) runs the fault layers: the two fault proxies as child processes in
front of the emulators, the services' environment pointed at them, and the DNS hook (provider host names).

The launcher calls these few functions; everything about the fault layers stays here."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

from stack.faults.dns import DnsControl, provider_host
from stack.launcher.ports import free_port
from stack.launcher.services import ServiceSpec, python_module

AWS_PROXY = "aws-chaos"
REDIS_PROXY = "redis-proxy"
HOOK_MODULE = "stack.faults.run_hooked"
ENDPOINT_ENV = {"sqs": "AWS_ENDPOINT_URL_SQS", "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
                "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER", "s3": "AWS_ENDPOINT_URL_S3",
                "events": "AWS_ENDPOINT_URL_EVENTBRIDGE"}
HOSTS_FILE_NAME = "hosts.json"


def proxy_specs(endpoints: Mapping[str, str], seed: int) -> list[ServiceSpec]:
    """The AWS chaos proxy (when moto runs) and the Redis fault proxy (when Redis runs)."""
    specs: list[ServiceSpec] = []
    upstreams = [f"{name.removeprefix('moto-')}={url}" for name, url in sorted(endpoints.items())
                 if name.startswith("moto-")]
    if upstreams:
        # Listener ports chosen now, so a restarted proxy comes back where the services' environment points.
        args = ["--port", "0", "--seed", str(seed)]
        for upstream in upstreams:
            args += ["--upstream", upstream, "--listen", f"{upstream.partition('=')[0]}={free_port()}"]
        specs.append(ServiceSpec(AWS_PROXY, "infra", python_module("stack.faults.aws_proxy", *args),
                                 module="stack.faults.aws_proxy"))
    if "redis" in endpoints:
        specs.append(ServiceSpec(REDIS_PROXY, "infra",
                                 python_module("stack.faults.redis_proxy", "--upstream", endpoints["redis"],
                                               "--port", "0", "--control-port", str(free_port()),
                                               "--seed", str(seed)),
                                 module="stack.faults.redis_proxy"))
    return specs


def proxied_env(ready_info: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The services' AWS endpoints and Redis URL through the proxies that run."""
    env: dict[str, str] = {}
    for service, url in (ready_info.get(AWS_PROXY, {}).get("listeners") or {}).items():
        if service in ENDPOINT_ENV:
            env[ENDPOINT_ENV[service]] = str(url)
    redis_url = ready_info.get(REDIS_PROXY, {}).get("url")
    if redis_url:
        env["SYNCWELL_REDIS_URL"] = str(redis_url)
    return env


def write_hosts_file(state_dir: Path, fake_urls: Mapping[str, str]) -> Path:
    """The DNS hook's hosts file: each fake's host name -> its loopback address."""
    path = state_dir / HOSTS_FILE_NAME
    hosts = {}
    for provider, url in fake_urls.items():
        hosts[provider_host(provider)] = url.split("://", 1)[1].split(":", 1)[0].split("/", 1)[0]
    DnsControl(path).set_hosts(hosts)
    return path


def named_provider_urls(fake_urls: Mapping[str, str]) -> dict[str, str]:
    """``http://127.0.0.1:PORT`` -> ``http://fake-strava.swsim.internal:PORT`` (resolved by the hook)."""
    out = {}
    for provider, url in fake_urls.items():
        scheme, rest = url.split("://", 1)
        port = rest.split("/", 1)[0].rpartition(":")[2]
        out[provider] = f"{scheme}://{provider_host(provider)}:{port}"
    return out


def hooked(spec: ServiceSpec) -> ServiceSpec:
    """The same Python service, started through the DNS hook (``python -m stack.faults.run_hooked MODULE ...``)."""
    if not spec.module or spec.module == HOOK_MODULE or len(spec.argv) < 3 or spec.argv[1] != "-m":
        return spec
    return dataclasses.replace(spec, argv=[spec.argv[0], "-m", HOOK_MODULE, *spec.argv[2:]])


def faults_block(ready_info: Mapping[str, Mapping[str, Any]], hosts_file: Path | None,
                 fake_urls: Mapping[str, str], worker_names: list[str]) -> dict[str, Any]:
    """The ``faults`` section of the stack's description (read by stack.faults.context.FaultContext)."""
    aws = ready_info.get(AWS_PROXY, {})
    redis = ready_info.get(REDIS_PROXY, {})
    return {"aws_chaos_url": aws.get("url"), "aws_listeners": aws.get("listeners") or {},
            "redis_proxy_url": redis.get("control_url"), "redis_proxied_url": redis.get("url"),
            "hosts_file": str(hosts_file) if hosts_file else None,
            "provider_hosts": {p: provider_host(p) for p in fake_urls} if hosts_file else {},
            "worker_names": worker_names}


def dump(block: Mapping[str, Any]) -> str:
    return json.dumps(block, indent=2)
