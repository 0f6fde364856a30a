"""Rebuilding published tables and writing export files.

Each published table is rebuilt whole from two SQL files beside the asset module that
publishes it: ``<table>.create.sql`` (the typed columns, ``CREATE OR REPLACE``) and
``<table>.insert.sql`` (``INSERT ... BY NAME SELECT`` from transformation's tables).
Run inside one transaction, the pair is idempotent and readers see either the old or the
new table, never a half-written one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb

from analytics.resources import PlatformLinks
from analytics.tables import SCHEMA

_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet"}


def sql_beside(module: str) -> Traversable:
    """The folder of ``module`` (pass ``__name__``), where its SQL files are shipped."""
    return files(module.rpartition(".")[0])


@cache
def sql(folder: Traversable, name: str) -> str:
    """The text of the SQL file ``name`` in ``folder`` (read once per process)."""
    return folder.joinpath(name).read_text("utf-8")


def rebuild_table(
    conn: duckdb.DuckDBPyConnection, folder: Traversable, table: str, params: Sequence[Any] = ()
) -> None:
    """Recreate ``analytics.<table>`` from its SQL files in ``folder`` and fill it; call
    inside a transaction."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(sql(folder, f"{table}.create.sql"))
    conn.execute(sql(folder, f"{table}.insert.sql"), list(params))


def scalar(conn: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of ``query``, ``None`` without a row."""
    row = conn.execute(query, params or []).fetchone()
    return row[0] if row else None


def asset_page(links: PlatformLinks, key: dg.AssetKey) -> dict[str, Any]:
    """The ``asset_url`` metadata entry every published table reports."""
    return {"asset_url": dg.MetadataValue.url(links.asset_url(key))}


def export_query(
    conn: duckdb.DuckDBPyConnection,
    query: str,
    path: Path,
    fmt: Literal["csv", "parquet"],
    params: Sequence[Any] = (),
) -> None:
    """Write the result of ``query`` to ``path`` with DuckDB's ``COPY``."""
    conn.execute(f"COPY ({query}) TO ? ({_COPY_OPTIONS[fmt]})", [*params, str(path)])


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` that replaces it only if the block succeeds.

    People and tools read the export folder at any time: they must find the previous
    file or the new one, never a partial write or one whose table write rolled back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield staging
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, path)
