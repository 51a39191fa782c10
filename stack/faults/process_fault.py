"""The shape of the one-shot process faults (``process_kill``, ``process_pause``): choose the victims
(``target.process``, or ``{count|fraction}`` of the workers, seeded), do something to each, and undo it for each
on rollback. A type says only what it does (``hit``) and how that is undone (``heal``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.victims import COUNT_SCHEMA, check_count, choose

if TYPE_CHECKING:
    from stack.faults.context import FaultContext
    from stack.faults.processes import ProcessControl


class ProcessFault(BaseFault):
    attributes_schema: ClassVar[Mapping[str, tuple[tuple[type, ...], Any]]] = dict(COUNT_SCHEMA)
    target_keys = frozenset({"process"})

    def validate(self) -> None:
        check_count(self.spec, self.attrs)

    def hit(self, processes: "ProcessControl", name: str) -> None:
        raise NotImplementedError

    def heal(self, processes: "ProcessControl", name: str) -> None:
        raise NotImplementedError

    def apply(self, ctx: "FaultContext") -> Rollback:
        processes = ctx.require_processes()
        victims = choose(self.spec, self.attrs, processes, ctx.rng(self.spec))
        for name in victims:
            self.hit(processes, name)

        def undo() -> None:
            for name in victims:
                self.heal(processes, name)

        return once(undo)
