"""``provider_error``: Provider calls answer an HTTP error (status 400-599, provider's own body) (the fakes' ``error`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.base import NUMBER
from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class ProviderErrorFault(ProviderFault):
    type_name = "provider_error"
    fake_type = "error"
    description = "Provider calls answer an HTTP error (status 400-599, provider's own body)."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {"status": ((int,), 503), "message": ((str,), None), "retry_after": (NUMBER, None), "body": ((str,), None)}
