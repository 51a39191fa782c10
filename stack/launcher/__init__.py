"""The embedded launcher: ``swsim up`` and :class:`Stack` (the same running stack for tests and tools)."""
from stack.launcher.stack import ChildFailure, Stack, StackStartError, load_state

__all__ = ["ChildFailure", "Stack", "StackStartError", "load_state"]
