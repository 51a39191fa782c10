"""``worker_crash_loop``: a worker crashes every ``interval_s`` (kill -9 of a seeded choice, started again after
``restart_delay_s``), as a Lambda that keeps failing; the rollback stops the loop and restarts every victim."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from stack.faults.base import NUMBER, BaseFault, Rollback, once
from stack.faults.registry import register
from stack.faults.victims import candidates

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


@register
class WorkerCrashLoopFault(BaseFault):
    type_name = "worker_crash_loop"
    description = "Kill -9 one worker every interval_s and restart it after restart_delay_s, until rollback."
    attributes_schema = {"interval_s": (NUMBER, 5.0), "restart_delay_s": (NUMBER, 0.5)}
    target_keys = frozenset({"process"})

    def validate(self) -> None:
        if self.attrs["interval_s"] <= 0 or self.attrs["restart_delay_s"] < 0:
            raise self.error("interval_s must be > 0 and restart_delay_s >= 0")

    def apply(self, ctx: "FaultContext") -> Rollback:
        processes = ctx.require_processes()
        pool = candidates(self.spec, processes)
        rng = ctx.rng(self.spec)
        stop = threading.Event()
        killed: set[str] = set()

        def loop() -> None:
            while not stop.is_set():
                if rng.random() < self.spec.probability:
                    name = rng.choice(pool)
                    killed.add(name)
                    processes.kill(name)
                    if stop.wait(self.attrs["restart_delay_s"]):
                        return
                    processes.restart(name)
                stop.wait(self.attrs["interval_s"])

        thread = threading.Thread(target=loop, name=f"crash-loop-{self.spec.name}", daemon=True)
        thread.start()

        def undo() -> None:
            stop.set()
            thread.join(30)
            for name in sorted(killed):
                processes.restart(name)

        return once(undo)
