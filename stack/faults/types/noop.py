"""``noop``: does nothing (the fallback type, and a placeholder in experiment timelines)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class NoopFault(BaseFault):
    type_name = "noop"
    description = "Does nothing; a placeholder on a timeline."
    target_keys = frozenset({"service", "operation", "region", "process", "provider", "route", "method", "user",
                             "host"})

    def apply(self, ctx: "FaultContext") -> Rollback:
        return lambda: None
