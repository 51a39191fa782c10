"""Fixed rate-limit windows aligned to the fake clock (15-minute windows on :00/:15/:30/:45, hours, UTC days...).

A ``Windows`` object counts hits per (key, window length) in the window that contains "now"; windows roll over
on their own as the clock moves, so advancing the clock past a boundary resets a count."""
from __future__ import annotations


def window_start(now: float, length: int) -> int:
    return int(now // length) * length


class Windows:
    def __init__(self) -> None:
        # (key, length) -> [window_start, count]
        self._counts: dict[tuple, list] = {}

    def clear(self) -> None:
        self._counts.clear()

    def usage(self, key: object, length: int, now: float) -> int:
        slot = self._counts.get((key, length))
        if slot is None or slot[0] != window_start(now, length):
            return 0
        return slot[1]

    def hit(self, key: object, length: int, now: float, n: int = 1) -> int:
        start = window_start(now, length)
        slot = self._counts.get((key, length))
        if slot is None or slot[0] != start:
            slot = [start, 0]
            self._counts[(key, length)] = slot
        slot[1] += n
        return slot[1]

    @staticmethod
    def seconds_to_reset(now: float, length: int) -> int:
        return max(0, int(window_start(now, length) + length - now + 0.999))
