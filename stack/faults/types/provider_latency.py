"""``provider_latency``: provider calls are slow (the fakes' ``latency`` fault): ``latency_ms`` (fixed), or the
fakes' own ``distribution`` fixed/uniform/lognormal with ``ms``/``min_ms``/``max_ms``/``median_ms``/``sigma``."""
from __future__ import annotations

from typing import Any

from stack.faults.base import NUMBER
from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class ProviderLatencyFault(ProviderFault):
    type_name = "provider_latency"
    fake_type = "latency"
    description = "Provider calls take latency_ms longer (or a uniform/lognormal distribution of delays)."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {
        "latency_ms": (NUMBER, None), "distribution": ((str,), None), "ms": (NUMBER, None),
        "min_ms": (NUMBER, None), "max_ms": (NUMBER, None), "median_ms": (NUMBER, None), "sigma": (NUMBER, None)}

    def validate(self) -> None:
        super().validate()
        if self.attrs["latency_ms"] is None and self.attrs["distribution"] is None and self.attrs["ms"] is None:
            raise self.error("give latency_ms, or a distribution (fixed ms / uniform min_ms,max_ms / lognormal "
                             "median_ms,sigma)")

    def fake_attributes(self) -> dict[str, Any]:
        attrs = super().fake_attributes()
        if "latency_ms" in attrs:
            attrs = {"distribution": "fixed", "ms": attrs.pop("latency_ms"), **attrs}
        return attrs
