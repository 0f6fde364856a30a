"""Process handling of the local topology that needs no platform running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from platform_stack.topology import Process

PROBE = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"


@pytest.mark.processes
def test_processes_handle_interrupts_when_started_from_a_background_job(tmp_path: Path) -> None:
    # A shell starts background jobs (`nohup make dev &`) with SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        plain = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        )
        probe = Process("probe", [sys.executable, "-c", PROBE], dict(os.environ), tmp_path / "p")
        probe.start(tmp_path)
        assert probe.popen is not None
        assert probe.popen.wait(60) == 0
    finally:
        signal.signal(signal.SIGINT, previous)

    # Inherited as ignored, SIGINT (and so Dagster's SIGTERM) would not stop a process.
    assert plain.stdout.strip() == "False"
    assert (tmp_path / "p").read_text().strip() == "True"
