"""The location's SQL, kept in ``sql/*.sql`` files that read as plain SQL.

Statements take values only as bound parameters (``$1``, ``$2``, ...); table names are
written in the files, never assembled from input.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import duckdb

SCHEMA = "transformation"


@cache
def query(name: str) -> str:
    """The text of ``sql/<name>.sql``, e.g. ``query("enriched_sales.insert")``."""
    return (files("transformation") / "sql" / f"{name}.sql").read_text(encoding="utf-8").strip()


def create_table(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create the schema and ``table`` (typed columns from ``sql/<table>.create.sql``)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(query(f"{table}.create"))
