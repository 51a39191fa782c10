"""OpenModelRun.stop(): a run whose end is decided while it runs stops firing at once and still returns its result."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from scenarios.engine import OpenModelRun, ScheduledEvent
from scenarios.engine.stub_builders import STUB_BUILDERS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", [0, 1])
def test_stop_ends_a_long_schedule_early_and_counts_the_rest_as_not_started(
        stub_server: Callable[..., str], tmp_path: Path, workers: int) -> None:
    url = stub_server()
    events = [ScheduledEvent(i / 20, "fast", i, 0) for i in range(20 * 120)]  # 120 s scheduled
    run = OpenModelRun(url, events, STUB_BUILDERS, workers=workers, pool_size=50, window_s=1.0,
                       out_dir=tmp_path, progress_interval_s=0.5, print_progress_lines=False)
    # Stop once requests flow (from the driver-output thread, as a caller's thread would).
    run.events.progress.add_listener(lambda snapshot: run.stop() if snapshot.completed >= 20 else None)
    began = time.monotonic()
    result = run.run()
    assert time.monotonic() - began < 60, "the run did not stop early"
    requests = result.recorder.totals().requests
    assert 20 <= requests < len(events) // 2
    # Only what was handed out (a few chunks ahead of time) is in the recording, as scheduled and not started.
    assert requests < result.recorder.scheduled < len(events)
    assert result.recorder.not_started == result.recorder.scheduled - requests
    assert result.info.drained is True and any("stopped early" in note for note in result.info.notes)
