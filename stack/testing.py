"""pytest plugin: the running SyncWell stack as a fixture.

Use it from any test suite (the project's or your own)::

    # conftest.py at the root of your tests
    pytest_plugins = ["stack.testing"]

    # test_mine.py
    SYNCWELL_STACK = {"users": 10, "appconfig": {"coalescer": {"delay_s": 2}}}   # optional, per module

    def test_health(syncwell_stack):
        assert httpx.get(syncwell_stack.api_url + "/health").status_code == 200

Fixtures:
- ``syncwell_stack`` (module scope): one :class:`stack.launcher.Stack` shared by the tests of a module, started
  with the module's ``SYNCWELL_STACK`` keyword arguments (see ``Stack.start``), stopped after the module.
  Tests that break the stack (kill a process) should restore it or use the factory.
- ``syncwell_stack_factory`` (function scope): ``start(**kwargs) -> Stack``; every stack it started is stopped
  after the test.
Option: ``--syncwell-keep-state`` keeps each stack's state dir (logs, state.json) after the run for debugging.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest

from stack.launcher import Stack

MODULE_OPTIONS_ATTRIBUTE = "SYNCWELL_STACK"
DEFAULT_USERS = 10


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("syncwell")
    group.addoption("--syncwell-keep-state", action="store_true", default=False,
                    help="keep the stacks' state dirs (logs, state.json) after the tests")


def _start(config: pytest.Config, **kwargs: Any) -> Stack:
    kwargs.setdefault("users", DEFAULT_USERS)
    if config.getoption("--syncwell-keep-state", default=False):
        os.environ["SWSIM_KEEP_STATE"] = "1"
    return Stack.start(**kwargs)


@pytest.fixture(scope="module")
def syncwell_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    options = dict(getattr(request.module, MODULE_OPTIONS_ATTRIBUTE, {}) or {})
    stack = _start(request.config, **options)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def syncwell_stack_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Stack]]:
    started: list[Stack] = []

    def start(**kwargs: Any) -> Stack:
        stack = _start(request.config, **kwargs)
        started.append(stack)
        return stack

    try:
        yield start
    finally:
        for stack in started:
            stack.stop()
