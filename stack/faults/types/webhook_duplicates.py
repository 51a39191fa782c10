"""``webhook_duplicates``: Provider webhooks are delivered copies extra times (the fakes' ``webhook_duplicate`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class WebhookDuplicatesFault(ProviderFault):
    type_name = "webhook_duplicates"
    fake_type = "webhook_duplicate"
    description = "Provider webhooks are delivered copies extra times."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {"copies": ((int,), 1)}
