"""Open-model (arrival-rate) load engine on top of Locust, coordinated-omission correct.

Public names are loaded lazily so that ``python -m scenarios.engine.driver`` (a Locust process, monkey-patched
by gevent) does not import the caller-side machinery first.
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "OpenModelRun": "scenarios.engine.api",
    "run_open_model": "scenarios.engine.api",
    "RunEvents": "scenarios.engine.api",
    "RequestSpec": "scenarios.engine.requests",
    "ResponseInfo": "scenarios.engine.requests",
    "FollowUp": "scenarios.engine.requests",
    "ScheduledEvent": "scenarios.engine.schedule_file",
    "ProgressSnapshot": "scenarios.engine.progress",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'scenarios.engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
