"""Throwaway warehouses for tests, on either catalog the platform runs on.

Every location's tests take their ``warehouse`` fixture from :func:`catalogs` and
:func:`temporary_warehouse`: a SQLite catalog in the test's folder, and, when a
PostgreSQL server is named by ``WAREHOUSE_TEST_POSTGRES`` (libpq keywords of a role that
may create databases, its password in ``WAREHOUSE_CATALOG_PASSWORD``), the same tests
again on a fresh catalog database there. ``make test`` starts such a server
(``tests/with_postgres.py``), so both catalogs are tested on every run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platform_shared.lake import Catalog
from platform_shared.resources import WarehouseResource
from platform_shared.settings import secret

SERVER_VAR = "WAREHOUSE_TEST_POSTGRES"


def catalogs() -> list[str]:
    """The catalog kinds this test session covers."""
    return ["sqlite", "postgres"] if os.environ.get(SERVER_VAR) else ["sqlite"]


@contextmanager
def temporary_warehouse(folder: Path, kind: str, **fields: Any) -> Iterator[WarehouseResource]:
    """An empty lake whose data lives in ``folder``; its catalog is removed afterwards."""
    data_path = str(folder / "lake")
    if kind == "sqlite":
        yield WarehouseResource(
            catalog=f"sqlite:{folder / 'catalog.sqlite'}", data_path=data_path, **fields
        )
        return
    server = os.environ[SERVER_VAR]
    name = f"lake_{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        catalog = f"postgres:{server} dbname={name}"
        Catalog.parse(catalog)  # the same checks as a deployment's setting
        yield WarehouseResource(catalog=catalog, data_path=data_path, **fields)
    finally:
        with _admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_of(warehouse: WarehouseResource) -> dict[str, str]:
    """The settings under which a location's own resources resolve to ``warehouse``."""
    return {"WAREHOUSE_CATALOG": warehouse.catalog, "WAREHOUSE_DATA_PATH": warehouse.data_path}


@contextmanager
def _admin(server: str) -> Iterator:
    import psycopg2  # installed with dagster-postgres

    conn = psycopg2.connect(
        f"{server} dbname=postgres", password=secret("WAREHOUSE_CATALOG_PASSWORD")
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()
