"""Helpers shared by the system and fault tests."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
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


def platform_environ(
    data: Path, extra: dict[str, str], catalog: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a platform whose data lives in ``data``.

    ``catalog``: the ``DAGSTER_POSTGRES_*`` of a database to keep the lake's catalog in, as
    deployments do; without it the catalog is a SQLite file, the embedded default.
    """
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_POSTGRES_", "WAREHOUSE_"))
    }
    environ.update(
        WAREHOUSE_CATALOG=f"sqlite:{data / 'warehouse' / 'catalog.sqlite'}",
        WAREHOUSE_DATA_PATH=str(data / "warehouse" / "lake"),
        LANDING_DIR=str(data / "landing"),
        EXPORT_DIR=str(data / "warehouse" / "exports"),
    )
    if catalog is not None:
        environ.update(postgres_catalog(catalog))
    environ.update(extra)
    return environ


def postgres_catalog(database: dict[str, str]) -> dict[str, str]:
    """The warehouse settings of a lake catalog in the PostgreSQL database ``database``."""
    return {
        "WAREHOUSE_CATALOG": (
            f"postgres:dbname={database['DAGSTER_POSTGRES_DB']} "
            f"host={database['DAGSTER_POSTGRES_HOST']} port={database['DAGSTER_POSTGRES_PORT']} "
            f"user={database['DAGSTER_POSTGRES_USER']}"
        ),
        "WAREHOUSE_CATALOG_PASSWORD": database["DAGSTER_POSTGRES_PASSWORD"],
    }


def landing_dir(topology: Topology) -> Path:
    return Path(topology.environ["LANDING_DIR"])


def warehouse_of(topology: Topology) -> WarehouseResource:
    """The platform's lake, as the test process reads it."""
    return warehouse_of_environ(topology.environ)


def warehouse_of_environ(environ: Mapping[str, str]) -> WarehouseResource:
    """The lake of a platform with the environment ``environ``, as the test process reads it.

    The catalog's password reaches this process's connections the way it reaches the
    platform's: through ``WAREHOUSE_CATALOG_PASSWORD`` (one test server, one password).
    """
    password = environ.get("WAREHOUSE_CATALOG_PASSWORD")
    if password:
        os.environ["WAREHOUSE_CATALOG_PASSWORD"] = password
    return WarehouseResource(
        catalog=environ["WAREHOUSE_CATALOG"], data_path=environ["WAREHOUSE_DATA_PATH"]
    )


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
