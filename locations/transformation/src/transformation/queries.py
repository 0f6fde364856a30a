"""The location's SQL, kept in ``sql/*.sql`` files beside the modules that run them.

Statements take values only as bound parameters (``$1``, ``$2``, ...); table names are
written in the files, never assembled from input.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import duckdb

SCHEMA = "transformation"


@cache
def _read(package: str, name: str) -> str:
    return (files(package) / "sql" / f"{name}.sql").read_text(encoding="utf-8").strip()


class SqlFolder:
    """The ``sql/`` folder of ``package`` (a package of the location, e.g. an area of ``defs``)."""

    def __init__(self, package: str) -> None:
        self.package = package

    def query(self, name: str) -> str:
        """The text of ``sql/<name>.sql``, e.g. ``query("enriched_sales.insert")``."""
        return _read(self.package, name)

    def create_table(self, conn: duckdb.DuckDBPyConnection, table: str) -> None:
        """Create the schema and ``table`` (typed columns from ``sql/<table>.create.sql``)."""
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(self.query(f"{table}.create"))
