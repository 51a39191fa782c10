"""``process_pause``: SIGSTOP a named process or some of the workers (hung, holding its messages invisible);
the rollback sends SIGCONT."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stack.faults.process_fault import ProcessFault
from stack.faults.registry import register

if TYPE_CHECKING:
    from stack.faults.processes import ProcessControl


@register
class ProcessPauseFault(ProcessFault):
    type_name = "process_pause"
    description = "SIGSTOP target.process or {count|fraction} of the workers; SIGCONT on rollback."

    def hit(self, processes: "ProcessControl", name: str) -> None:
        processes.pause(name)

    def heal(self, processes: "ProcessControl", name: str) -> None:
        processes.resume(name)
