"""``process_kill``: kill -9 a named process or some of the workers (a Lambda crash); the rollback starts them
again (``restart: false`` leaves them dead)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.process_fault import ProcessFault
from stack.faults.registry import register
from stack.faults.victims import COUNT_SCHEMA

if TYPE_CHECKING:
    from stack.faults.processes import ProcessControl


@register
class ProcessKillFault(ProcessFault):
    type_name = "process_kill"
    description = "kill -9 target.process or {count|fraction} of the workers; restarted on rollback."
    attributes_schema = {**COUNT_SCHEMA, "restart": ((bool,), True)}

    def hit(self, processes: "ProcessControl", name: str) -> None:
        processes.kill(name)

    def heal(self, processes: "ProcessControl", name: str) -> None:
        if self.attrs["restart"]:
            processes.restart(name)
