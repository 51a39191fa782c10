"""``process_pause``: SIGSTOP a named process or some of the workers (hung, holding its messages invisible);
the rollback sends SIGCONT."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.registry import register
from stack.faults.victims import COUNT_SCHEMA, check_count, choose

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class ProcessPauseFault(BaseFault):
    type_name = "process_pause"
    description = "SIGSTOP target.process or {count|fraction} of the workers; SIGCONT on rollback."
    attributes_schema = dict(COUNT_SCHEMA)
    target_keys = frozenset({"process"})

    def validate(self) -> None:
        check_count(self.spec, self.attrs)

    def apply(self, ctx: "FaultContext") -> Rollback:
        processes = ctx.require_processes()
        victims = choose(self.spec, self.attrs, processes, ctx.rng(self.spec))
        for name in victims:
            processes.pause(name)

        def undo() -> None:
            for name in victims:
                processes.resume(name)

        return once(undo)
