"""Fixtures of the ingestion tests: a temporary landing folder and warehouse."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingestion.quality import QualityConfig
from platform_shared.resources import LandingZone, WarehouseResource
from platform_shared.testing import catalogs, temporary_warehouse

# An mtime long past: the file counts as settled on first sight.
OLD = time.time() - 3600


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


@pytest.fixture(params=catalogs())
def warehouse(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WarehouseResource]:
    """An empty lake, on each catalog the session covers."""
    with temporary_warehouse(tmp_path / "warehouse", request.param) as lake:
        yield lake


@pytest.fixture
def resources(warehouse: WarehouseResource, landing: Path) -> dict[str, Any]:
    return {
        "warehouse": warehouse,
        "landing": LandingZone(root=str(landing)),
        "quality": QualityConfig(),
    }


@pytest.fixture
def write(landing: Path) -> Callable[..., Path]:
    """Write ``content`` (text or bytes) to ``landing/relative``, with mtime ``mtime``."""

    def _write(relative: str, content: str | bytes, mtime: float | None = OLD) -> Path:
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    return _write


@pytest.fixture
def query(warehouse: WarehouseResource) -> Callable[..., list[tuple[Any, ...]]]:
    """Rows of a SQL query against the test warehouse."""

    def _query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with warehouse.get_connection() as conn:
            return conn.execute(sql, params or []).fetchall()

    return _query
