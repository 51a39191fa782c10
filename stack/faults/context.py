"""What fault types act through, built from a running :class:`stack.launcher.Stack` or its state file:
process control, the AWS chaos proxy's control URL, the Redis fault proxy's control URL, the fakes' control
URLs, the DNS hosts file, and a seeded random source per fault."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from stack.faults.base import FaultUnsupported
from stack.faults.envelope import FaultSpec
from stack.faults.processes import ProcessControl, StackProcessControl, StateProcessControl

if TYPE_CHECKING:
    from stack.faults.aws_client import AwsChaosClient
    from stack.faults.dns import DnsControl
    from stack.faults.redis_proxy import RedisProxyClient
    from stack.launcher.stack import Stack

PROVIDERS = ("strava", "fitbit", "garmin")


@dataclass
class FaultContext:
    processes: ProcessControl | None = None
    aws_chaos_url: str | None = None           # base URL of the AWS chaos proxy's control side
    redis_proxy_url: str | None = None         # base URL of the Redis fault proxy's control API
    fake_urls: dict[str, str] = field(default_factory=dict)   # provider -> fake base URL (control under /_fake)
    hosts_file: Path | None = None             # the DNS hook's hosts file (SWSIM_HOSTS_FILE)
    provider_hosts: dict[str, str] = field(default_factory=dict)  # provider -> host name the services resolve
    seed: int = 0

    # ---- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_stack(cls, stack: "Stack", seed: int = 0) -> "FaultContext":
        faults = _faults_section(stack.describe())
        return cls(processes=StackProcessControl(stack), fake_urls=_fake_urls(stack.endpoints), seed=seed,
                   **faults)

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | str | Path, seed: int = 0) -> "FaultContext":
        """From a state file (or its parsed content) of a stack run by another process (``swsim up``)."""
        if not isinstance(state, Mapping):
            from stack.launcher.stack import load_state

            state = load_state(state)
        return cls(processes=StateProcessControl(state), fake_urls=_fake_urls(state.get("endpoints", {})),
                   seed=seed, **_faults_section(state))

    # ---- what fault types use --------------------------------------------------------------------------------
    def rng(self, spec: FaultSpec) -> random.Random:
        """The fault's own random source: the spec's seed, else the experiment's seed mixed with its name."""
        return random.Random(spec.seed if spec.seed is not None else f"{self.seed}:{spec.name}")

    def fault_seed(self, spec: FaultSpec) -> int:
        return self.rng(spec).getrandbits(31)

    def require_processes(self) -> ProcessControl:
        if self.processes is None:
            raise FaultUnsupported("no process control in this fault context")
        return self.processes

    def aws(self) -> "AwsChaosClient":
        from stack.faults.aws_client import AwsChaosClient

        if not self.aws_chaos_url:
            raise FaultUnsupported("the stack runs no AWS chaos proxy (start it with the fault proxies on)")
        return AwsChaosClient(self.aws_chaos_url)

    def redis(self) -> "RedisProxyClient":
        from stack.faults.redis_proxy import RedisProxyClient

        if not self.redis_proxy_url:
            raise FaultUnsupported("the stack runs no Redis fault proxy (start it with the fault proxies on)")
        return RedisProxyClient(self.redis_proxy_url)

    def dns(self) -> "DnsControl":
        from stack.faults.dns import DnsControl

        if self.hosts_file is None:
            raise FaultUnsupported("the stack's services resolve no swsim host names (no hosts file)")
        return DnsControl(self.hosts_file)

    def fake_url(self, provider: str) -> str:
        try:
            return self.fake_urls[provider]
        except KeyError:
            raise FaultUnsupported(f"no fake provider {provider!r}; running: {sorted(self.fake_urls)}") from None


def _fake_urls(endpoints: Mapping[str, str]) -> dict[str, str]:
    return {p: endpoints[f"fake-{p}"] for p in PROVIDERS if f"fake-{p}" in endpoints}


def _faults_section(described: Mapping[str, Any]) -> dict[str, Any]:
    """The ``faults`` block the launcher writes into its description / state file."""
    block = described.get("faults") or {}
    hosts = block.get("hosts_file")
    return {"aws_chaos_url": block.get("aws_chaos_url"), "redis_proxy_url": block.get("redis_proxy_url"),
            "hosts_file": Path(hosts) if hosts else None,
            "provider_hosts": dict(block.get("provider_hosts") or {})}
