"""``provider_429_storm``: Provider calls answer 429 with the provider's rate-limit body and headers (the fakes' ``rate_limit_storm`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.base import NUMBER
from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class Provider429StormFault(ProviderFault):
    type_name = "provider_429_storm"
    fake_type = "rate_limit_storm"
    description = "Provider calls answer 429 with the provider's rate-limit body and headers."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {"retry_after": (NUMBER, None)}
