"""Export files of published tables, written so a reader never sees a partial file.

People and tools read the export folder at any time: each file is written to a temporary
sibling and moved into place only when the block that writes it succeeds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
