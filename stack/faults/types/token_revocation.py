"""``token_revocation``: The user revokes the grant (target.user; notify sends the revocation webhook) (the fakes' ``token_revocation`` fault)."""
from __future__ import annotations

from typing import Any

from stack.faults.provider_base import ProviderFault
from stack.faults.registry import register


@register
class TokenRevocationFault(ProviderFault):
    type_name = "token_revocation"
    fake_type = "token_revocation"
    description = "The user revokes the grant (target.user; notify sends the revocation webhook)."
    attributes_schema: dict[str, tuple[tuple[type, ...], Any]] = {"immediate": ((bool,), None), "notify": ((bool,), None)}
