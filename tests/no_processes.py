"""A pytest plugin for ``make test-unit``: a test that starts a process fails at once.

Unit tests run in the test process. One that starts a server, a run worker or a command
line belongs under the ``processes`` marker (or ``system``, ``faults``, ``compose``),
which ``make test-unit`` leaves out; this plugin keeps that true by refusing, during any
selected test, to start a subprocess or a multiprocessing child.
"""

from __future__ import annotations

import multiprocessing.process
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class ProcessStartedError(RuntimeError):
    """A unit test tried to start a process."""


@contextmanager
def _refused(item: pytest.Item) -> Iterator[None]:
    popen_init = subprocess.Popen.__init__
    process_start = multiprocessing.process.BaseProcess.start

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ProcessStartedError(
            f"{item.nodeid} starts a process: mark it `processes` "
            "(make test-unit runs only tests that start none)"
        )

    subprocess.Popen.__init__ = refuse  # type: ignore[method-assign]
    multiprocessing.process.BaseProcess.start = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = popen_init  # type: ignore[method-assign]
        multiprocessing.process.BaseProcess.start = process_start  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _refused(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _refused(item):
        yield
