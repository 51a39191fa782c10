"""The pair's parallel restarts must not rewrite the stack's state file at the same time (they share one
``state.json.tmp``: a race once failed test_sweep's start-up with FileNotFoundError)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stack.region.pair import _serialize_state_writes


class _Writes:
    """Stands in for a Stack: counts how many state writes overlap."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.calls = 0
        self._count = threading.Lock()
        self._go = threading.Event()

    def _write_state(self, stopped: bool = False) -> None:
        with self._count:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
        self._go.wait(0.3)  # hold the write long enough for any other thread to overlap it
        with self._count:
            self.inside -= 1


def test_state_writes_are_serialized() -> None:
    stack: Any = _Writes()
    _serialize_state_writes(stack)
    _serialize_state_writes(stack)  # a second pair on the same stack wraps once
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: stack._write_state(), range(6)))
    assert stack.calls == 6
    assert stack.most == 1


def test_unserialized_writes_do_overlap() -> None:
    """The check above can fail: without the lock, the same writes overlap."""
    stack: Any = _Writes()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: stack._write_state(), range(6)))
    assert stack.most > 1
