"""``dns_failure``: a host name stops resolving (``socket.gaierror``) in the hooked service processes (all, or
``target.process``), through the DNS hook's hosts file; the rollback makes it resolve again."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, FaultUnsupported, Rollback, once
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class DnsFailureFault(BaseFault):
    type_name = "dns_failure"
    description = "A provider's (or any swsim) host name fails to resolve in the services (or target.process)."
    target_keys = frozenset({"host", "provider", "process"})

    def validate(self) -> None:
        if ("host" in self.spec.target) == ("provider" in self.spec.target):
            raise self.error("give exactly one of target.host or target.provider")

    def host(self, ctx: "FaultContext") -> str:
        if "host" in self.spec.target:
            return self.spec.target["host"]
        provider = self.spec.target["provider"]
        try:
            return ctx.provider_hosts[provider]
        except KeyError:
            raise FaultUnsupported(f"fault {self.spec.name!r}: no host name for provider {provider!r}; "
                                   f"known: {ctx.provider_hosts}") from None

    def apply(self, ctx: "FaultContext") -> Rollback:
        dns = ctx.dns()
        host = self.host(ctx)
        process = self.spec.target.get("process", "*")
        dns.fail(self.spec.name, host, process)
        return once(lambda: dns.restore(self.spec.name))
