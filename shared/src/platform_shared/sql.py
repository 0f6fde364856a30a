"""A location's SQL files: ``defs/<area>/sql/<name>.sql``, beside the assets that run them.

Every location reads its SQL through :class:`SqlFolder`, so a statement is found the same
way in each: ``SqlFolder(__package__)`` in an area of ``defs`` reads that area's ``sql/``.
Statements take values only as bound parameters (``$1``/``?``); table and column names
are written in the files, never assembled from input. A table's two files are
``<table>.create.sql`` (its typed columns) and ``<table>.insert.sql`` (how it is filled).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import duckdb


@cache
def _read(package: str, name: str) -> str:
    return (files(package) / "sql" / f"{name}.sql").read_text(encoding="utf-8")


class SqlFolder:
    """The ``sql/`` folder of ``package`` (an area of a location's ``defs``).

    The location's schema is the first part of the package name: each location writes
    only its own schema, named as its key prefix.
    """

    def __init__(self, package: str) -> None:
        self.package = package
        self.schema = package.partition(".")[0]

    def query(self, name: str) -> str:
        """The text of ``sql/<name>.sql`` (read once per process), e.g. ``"daily_sales.insert"``."""
        return _read(self.package, name)

    def create_table(self, conn: duckdb.DuckDBPyConnection, table: str) -> None:
        """Create the location's schema and ``table`` from ``<table>.create.sql``."""
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        conn.execute(self.query(f"{table}.create"))

    def rebuild_table(
        self, conn: duckdb.DuckDBPyConnection, table: str, params: Sequence[Any] = ()
    ) -> None:
        """Recreate ``table`` (its create file says ``CREATE OR REPLACE``) and fill it from
        ``<table>.insert.sql``; call inside a transaction, so readers see the old table or
        the new one."""
        self.create_table(conn, table)
        conn.execute(self.query(f"{table}.insert"), list(params))
