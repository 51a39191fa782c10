"""``process_kill``: kill -9 a named process or some of the workers (a Lambda crash); the rollback starts them
again (``restart: false`` leaves them dead)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register
from stack.faults.victims import COUNT_SCHEMA, check_count, choose

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class ProcessKillFault(BaseFault):
    type_name = "process_kill"
    description = "kill -9 target.process or {count|fraction} of the workers; restarted on rollback."
    attributes_schema = {**COUNT_SCHEMA, "restart": ((bool,), True)}
    target_keys = frozenset({"process"})

    def validate(self) -> None:
        check_count(self.spec, self.attrs)

    def apply(self, ctx: "FaultContext") -> Rollback:
        processes = ctx.require_processes()
        victims = choose(self.spec, self.attrs, processes, ctx.rng(self.spec))
        for name in victims:
            processes.kill(name)

        def undo() -> None:
            if self.attrs["restart"]:
                for name in victims:
                    processes.restart(name)

        return once(undo)
