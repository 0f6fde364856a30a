"""Run worker liveness as the orphaned-runs sensor judges it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from platform_shared.run_health import WorkerReport, process_start_time, worker_alive


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@pytest.mark.processes
def test_a_live_worker_is_alive_and_a_dead_one_is_not() -> None:
    proc = _sleeper()
    try:
        started = process_start_time(proc.pid)
        assert started is not None
        assert abs(started - time.time()) < 5
        assert worker_alive(WorkerReport("run", proc.pid, time.time()))
    finally:
        proc.kill()
        proc.wait()
    assert process_start_time(proc.pid) is None
    assert not worker_alive(WorkerReport("run", proc.pid, time.time()))


@pytest.mark.processes
def test_a_reused_pid_is_not_the_worker() -> None:
    proc = _sleeper()
    try:
        # The worker reported long before this process started: some other process.
        long_ago = time.time() - 3600
        assert not worker_alive(WorkerReport("run", proc.pid, long_ago))
        # A process started long before the report is not the worker either.
        assert not worker_alive(WorkerReport("run", proc.pid, time.time() + 3600))
    finally:
        proc.kill()
        proc.wait()
