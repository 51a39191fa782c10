"""``webhook_reorder``: Provider webhooks are held and delivered after later ones (the fakes' ``webhook_out_of_order`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.base import NUMBER
from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class WebhookReorderFault(ProviderFault):
    type_name = "webhook_reorder"
    fake_type = "webhook_out_of_order"
    description = "Provider webhooks are held and delivered after later ones."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {"after": ((int,), None), "max_hold_seconds": (NUMBER, None)}
