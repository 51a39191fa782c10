"""``provider_hang``: Provider calls hang for seconds, then respond or reset (a timeout) (the fakes' ``hang`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.base import NUMBER
from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class ProviderHangFault(ProviderFault):
    type_name = "provider_hang"
    fake_type = "hang"
    description = "Provider calls hang for seconds, then respond or reset (a timeout)."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {"seconds": (NUMBER, 30), "then": ((str,), None)}
