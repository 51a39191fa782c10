"""The fake's clock: wall time plus an offset (so it keeps running during load tests), with set/advance moving
the offset, and an optional frozen mode in which time only moves when told to."""
from __future__ import annotations

import time
from typing import Callable


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen_at: float | None = None
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        if self.frozen_at is not None:
            return self.frozen_at
        return time.time() + self.offset

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    def set(self, now: float, frozen: bool | None = None) -> None:
        if frozen is None:
            frozen = self.frozen
        if frozen:
            self.frozen_at = float(now)
        else:
            self.frozen_at = None
            self.offset = float(now) - time.time()
        self._changed()

    def advance(self, seconds: float) -> None:
        if self.frozen_at is not None:
            self.frozen_at += float(seconds)
        else:
            self.offset += float(seconds)
        self._changed()

    def freeze(self, frozen: bool = True) -> None:
        self.set(self.now(), frozen)

    def reset(self) -> None:
        self.offset = 0.0
        self.frozen_at = None
        self._changed()

    def on_change(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    def snapshot(self) -> dict:
        return {"now": self.now(), "offset": self.offset, "frozen": self.frozen}
