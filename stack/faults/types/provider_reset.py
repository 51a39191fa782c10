"""``provider_reset``: Provider connections are reset (TCP RST) mid-request (the fakes' ``connection_reset`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class ProviderResetFault(ProviderFault):
    type_name = "provider_reset"
    fake_type = "connection_reset"
    description = "Provider connections are reset (TCP RST) mid-request."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {}
