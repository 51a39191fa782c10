"""The embedded launcher: ``swsim up`` and :class:`Stack` (the same running stack for tests and tools).

The names are imported on first use (PEP 562) so that ``python -m stack.launcher.zygote`` and other submodules
do not pay for the launcher's own imports: the fork server starts before the launcher finishes importing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack.launcher.stack import ChildFailure, Stack, StackStartError, load_state

__all__ = ["ChildFailure", "Stack", "StackStartError", "load_state"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stack.launcher import stack as _stack

        return getattr(_stack, name)
    raise AttributeError(f"module 'stack.launcher' has no attribute {name!r}")
