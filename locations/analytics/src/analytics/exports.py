"""Export files of published tables: DuckDB writes each into a local scratch file, which
``platform_shared.resources.Exports.staged`` publishes whole once the table's write has
committed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb

_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet"}


def export_query(
    conn: duckdb.DuckDBPyConnection,
    query: str,
    path: Path,
    fmt: Literal["csv", "parquet"],
    params: Sequence[Any] = (),
) -> None:
    """Write the result of ``query`` to ``path`` with DuckDB's ``COPY``."""
    conn.execute(f"COPY ({query}) TO ? ({_COPY_OPTIONS[fmt]})", [*params, str(path)])
