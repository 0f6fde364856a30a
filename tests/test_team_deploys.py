"""Per-team deploy verbs refuse what is not a location before touching anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.processes
@pytest.mark.parametrize("location", ["", "nope", "ingestion;rm"])
def test_make_deploy_refuses_an_unknown_location(
    pytestconfig: pytest.Config, location: str
) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy", f"LOCATION={location}"],
        cwd=pytestconfig.rootpath,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"unknown location '{location}'" in result.stderr
    assert "ingestion transformation analytics" in result.stderr
    assert "docker" not in result.stdout


@pytest.mark.processes
def test_local_restart_refuses_an_unknown_location(pytestconfig: pytest.Config) -> None:
    stack = Path(sys.executable).parent / "platform-stack"
    result = subprocess.run(
        [str(stack), "--root", str(pytestconfig.rootpath), "restart", "nope"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown location 'nope'" in result.stderr
