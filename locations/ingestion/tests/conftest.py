"""Fixtures of the ingestion tests: a temporary landing zone and warehouse.

The landing zone is a folder and, under ``make test``, a bucket of the session's S3
server too: every test that delivers files runs on both. A test about what only a folder
has (symlinks, files written in place, modification times) is marked ``FOLDER_ONLY``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingestion.quality import QualityConfig
from platform_shared.resources import LandingZone, WarehouseResource
from platform_shared.storage import FolderStore, Store
from platform_shared.testing import (
    catalogs,
    drop_crossed_variants,
    stores,
    temporary_store,
    temporary_warehouse,
)

# An mtime long past: the file counts as settled on first sight.
OLD = time.time() - 3600


@pytest.fixture(params=stores())
def landing_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def landing(tmp_path: Path, landing_kind: str) -> Iterator[Store]:
    with temporary_store(tmp_path / "landing", landing_kind) as store:
        yield store


@pytest.fixture
def landing_folder(landing: Store) -> Path:
    """The landing folder of a ``FOLDER_ONLY`` test."""
    assert isinstance(landing, FolderStore), "mark the test FOLDER_ONLY"
    return landing.root


@pytest.fixture(params=catalogs())
def warehouse(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WarehouseResource]:
    """An empty lake, on each catalog the session covers."""
    with temporary_warehouse(tmp_path / "warehouse", request.param) as lake:
        yield lake


@pytest.fixture
def resources(warehouse: WarehouseResource, landing: Store) -> dict[str, Any]:
    return {
        "warehouse": warehouse,
        "landing": LandingZone(root=landing.url),
        "quality": QualityConfig(),
    }


@dataclass(frozen=True)
class Delivered:
    """A file a test delivered: what DuckDB reads it by, its bytes, and in a folder its
    path."""

    reference: str
    data: bytes
    path: Path | None

    def read_bytes(self) -> bytes:
        return self.path.read_bytes() if self.path is not None else self.data


@pytest.fixture
def write(landing: Store) -> Callable[..., Delivered]:
    """Deliver ``content`` (text or bytes) as ``relative``: uploaded to a bucket, or
    written in place in a folder with mtime ``mtime`` (None: now)."""

    def _write(relative: str, content: str | bytes, mtime: float | None = OLD) -> Delivered:
        data = content.encode() if isinstance(content, str) else content
        if not isinstance(landing, FolderStore):
            landing.put_bytes(relative, data)
            return Delivered(landing.reference(relative), data, None)
        path = landing.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return Delivered(str(path), data, path)

    return _write


@pytest.fixture
def query(warehouse: WarehouseResource) -> Callable[..., list[tuple[Any, ...]]]:
    """Rows of a SQL query against the test warehouse."""

    def _query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with warehouse.get_connection() as conn:
            return conn.execute(sql, params or []).fetchall()

    return _query


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    drop_crossed_variants(config, items)
