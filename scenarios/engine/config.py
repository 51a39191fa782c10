"""Settings of one open-model run, shared by the caller's process and the Locust processes (JSON on disk)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_POOL_SIZE = 200
DEFAULT_REQUEST_TIMEOUT_S = 30.0
DEFAULT_LATE_THRESHOLD_S = 0.010
DEFAULT_PROGRESS_INTERVAL_S = 5.0
READY_PREFIX = "SWSIM-READY "
PROGRESS_PREFIX = "SWSIM-PROGRESS "


@dataclass(slots=True)
class DriverConfig:
    target_url: str
    schedule_path: str
    builders: dict[str, str]  # kind -> "module:function"
    result_path: str
    workers: int = 0  # local worker processes to spawn (0 = the driver fires requests itself)
    expect_remote_workers: int = 0  # workers started by hand on other machines
    master_bind_host: str = "127.0.0.1"
    master_port: int = 0
    pool_size: int = DEFAULT_POOL_SIZE
    window_s: float = 10.0
    late_threshold_s: float = DEFAULT_LATE_THRESHOLD_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    lookahead_s: float = 2.0  # how far ahead of its time an event is handed to a load process
    start_delay_s: float = 1.0  # t0 = this long after the start message, so every process is ready
    progress_interval_s: float = DEFAULT_PROGRESS_INTERVAL_S
    worker_connect_timeout_s: float = 60.0
    drain_timeout_s: float | None = None  # default: request timeout + 10 s
    log_level: str = "WARNING"
    stop_file: str | None = None  # its appearance ends the run early (OpenModelRun.stop)
    notes: list[str] = field(default_factory=list)

    @property
    def total_workers(self) -> int:
        return self.workers + self.expect_remote_workers

    @property
    def effective_drain_timeout_s(self) -> float:
        return self.drain_timeout_s if self.drain_timeout_s is not None else self.request_timeout_s + 10.0

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> "DriverConfig":
        return cls(**json.loads(Path(path).read_text()))
