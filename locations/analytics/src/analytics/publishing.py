"""Rebuilding published tables and writing export files.

Each published table is rebuilt whole from two SQL files under ``sql/``:
``<table>.create.sql`` (the typed columns, ``CREATE OR REPLACE``) and
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
from pathlib import Path
from typing import Any, Literal

import duckdb

SCHEMA = "analytics"

_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet"}


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` shipped inside the package."""
    return files("analytics").joinpath("sql", f"{name}.sql").read_text("utf-8")


def rebuild_table(conn: duckdb.DuckDBPyConnection, table: str, params: Sequence[Any] = ()) -> None:
    """Recreate ``analytics.<table>`` and fill it; call inside a transaction."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(sql(f"{table}.create"))
    conn.execute(sql(f"{table}.insert"), list(params))


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
