"""Helpers shared by the system and fault tests."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from platform_shared.resources import WarehouseResource
from platform_stack.topology import Topology

T = TypeVar("T")


def artifacts_dir(root: Path, name: str) -> Path:
    path = root / "artifacts" / "system" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def platform_environ(data: Path, extra: dict[str, str]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_POSTGRES_")}
    environ.update(
        WAREHOUSE_PATH=str(data / "warehouse" / "analytics.duckdb"),
        LANDING_DIR=str(data / "landing"),
        EXPORT_DIR=str(data / "warehouse" / "exports"),
    )
    environ.update(extra)
    return environ


def landing_dir(topology: Topology) -> Path:
    return Path(topology.environ["LANDING_DIR"])


def warehouse_of(topology: Topology) -> WarehouseResource:
    return WarehouseResource(database=topology.environ["WAREHOUSE_PATH"])


def eventually(
    check: Callable[[], T | None], timeout: float, what: str, *, interval: float = 1.0
) -> T:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
