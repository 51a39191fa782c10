"""Progress snapshots: emitted by the driver as ``SWSIM-PROGRESS {json}`` lines, printed for people."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    elapsed_s: float
    scheduled_so_far: int  # events whose scheduled time has passed
    started: int
    completed: int
    late_starts: int
    errors: int
    in_flight: int
    achieved_rps: float  # starts per second since t0
    target_rps: float  # scheduled per second since t0
    p99_ms: float | None  # so far, from scheduled start, all endpoints

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "ProgressSnapshot":
        return cls(**data)

    def line(self) -> str:
        p99 = "-" if self.p99_ms is None else f"{self.p99_ms:.1f} ms"
        error_pct = 100.0 * self.errors / self.completed if self.completed else 0.0
        return (f"[load] {self.elapsed_s:7.1f}s  rate {self.achieved_rps:8.1f}/s (target {self.target_rps:8.1f}/s)"
                f"  done {self.completed}  in flight {self.in_flight}  late starts {self.late_starts}"
                f"  errors {self.errors} ({error_pct:.2f}%)  p99 {p99}")
