"""Load one landing file into its table, entirely inside DuckDB.

The file is read as bytes and split into numbered lines in SQL, each line is parsed and
checked against the feed's typed schema, then the good rows replace what the same file
loaded before and the refused ones replace its previous entries in
``ingestion.rejected_rows``. The caller holds the transaction, so a reload is all or
nothing. Invariant: loaded + rejected = data lines (non-blank lines after the header).

SQL lives in ``sql/``; the few statements below are formatted only with table and column
names taken from :mod:`ingestion.feeds`, never with input. Values are bound parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

import duckdb

from ingestion.feeds import Feed

REJECTED_ROWS = '"ingestion"."rejected_rows"'


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>``."""
    return (files("ingestion") / "sql" / name).read_text(encoding="utf-8")


class BadFileError(ValueError):
    """The file as a whole breaks the landing contract (e.g. wrong header): nothing loads."""


@dataclass(frozen=True)
class FileLoad:
    """What loading one file did."""

    feed: str
    partition_key: str | None
    source_file: str
    sha256: str
    size_bytes: int
    data_lines: int
    loaded: int
    rejected: int
    blank_lines: int
    top_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.data_lines if self.data_lines else 0.0


def prepare(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schema and tables if needed, and this connection's parsing macros."""
    conn.execute(sql("schema.sql"))
    conn.execute(sql("macros.sql"))


def load_file(
    conn: duckdb.DuckDBPyConnection,
    feed: Feed,
    path: Path,
    *,
    source_file: str,
    partition_key: str | None,
    rejected_at: dt.datetime,
) -> FileLoad:
    """Replace the rows of ``feed`` from ``path`` (a validated path inside the landing folder).

    ``partition_key`` must already be validated (daily feeds) or ``None`` (snapshots);
    ``source_file`` is the path relative to the landing folder, as recorded in
    ``rejected_rows``. Run inside a transaction after :func:`prepare`.
    """
    conn.execute(sql("read_file.sql"), [str(path)])
    conn.execute(sql("read_lines.sql"))
    _check_header(conn, feed, source_file)
    conn.execute(sql("split_fields.sql"), [len(feed.columns)])
    conn.execute(sql(f"stage_{feed.name}.sql"))
    _replace(conn, feed, partition_key, source_file, rejected_at)
    return _summary(conn, feed, partition_key, source_file)


def _check_header(conn: duckdb.DuckDBPyConnection, feed: Feed, source_file: str) -> None:
    row = conn.execute(
        """
        SELECT
            (SELECT csv_fields(raw_line) FROM landing_lines WHERE line_number = 1),
            (SELECT utf8 FROM landing_lines WHERE line_number = 1),
            (SELECT count(*) FROM landing_lines WHERE trim(raw_line) <> '')
        """
    ).fetchone()
    assert row is not None
    header, utf8, non_blank = row
    if non_blank == 0:
        return  # zero bytes or blank: an empty delivery, loads zero rows
    found = [h.lower() for h in header] if header is not None and utf8 else None
    if found != list(feed.columns):
        raise BadFileError(
            f"{source_file}: header {found!r} does not match the contract "
            f"{list(feed.columns)!r}; nothing was loaded"
        )


def _replace(
    conn: duckdb.DuckDBPyConnection,
    feed: Feed,
    partition_key: str | None,
    source_file: str,
    rejected_at: dt.datetime,
) -> None:
    good_columns = "* EXCLUDE (line_number, raw_line, reason)"
    if feed.partition_column is not None:
        conn.execute(
            f"DELETE FROM {feed.table} WHERE {feed.partition_column} = ?::DATE", [partition_key]
        )
        conn.execute(
            f"""
            INSERT INTO {feed.table} BY NAME
            SELECT {good_columns}, ?::DATE AS {feed.partition_column}
            FROM staged WHERE reason IS NULL ORDER BY line_number
            """,
            [partition_key],
        )
    else:
        conn.execute(f"DELETE FROM {feed.table}")
        conn.execute(
            f"""
            INSERT INTO {feed.table} BY NAME
            SELECT {good_columns} FROM staged WHERE reason IS NULL ORDER BY line_number
            """
        )
    conn.execute(
        f"DELETE FROM {REJECTED_ROWS} WHERE asset = ? AND partition_key IS NOT DISTINCT FROM ?",
        [feed.name, partition_key],
    )
    conn.execute(
        f"""
        INSERT INTO {REJECTED_ROWS}
            (asset, partition_key, source_file, line_number, raw_line, reason, rejected_at)
        SELECT ?, ?, ?, line_number, raw_line, reason, ?
        FROM staged WHERE reason IS NOT NULL ORDER BY line_number
        """,
        [feed.name, partition_key, source_file, rejected_at],
    )


def _summary(
    conn: duckdb.DuckDBPyConnection, feed: Feed, partition_key: str | None, source_file: str
) -> FileLoad:
    counts = conn.execute(
        """
        SELECT
            (SELECT sha256 FROM landing_file),
            (SELECT size_bytes FROM landing_file),
            (SELECT count(*) FROM staged),
            (SELECT count(*) FROM staged WHERE reason IS NULL),
            (SELECT count(*) FROM staged WHERE reason IS NOT NULL),
            -- Blank lines between data lines; the empty text after a final newline is
            -- not a line.
            (SELECT count(*) FROM landing_lines
             WHERE line_number > 1 AND trim(raw_line) = ''
               AND line_number < (SELECT max(line_number) FROM landing_lines))
        """
    ).fetchone()
    assert counts is not None
    sha256, size_bytes, data_lines, loaded, rejected, blank_lines = counts
    reasons = conn.execute(
        """
        SELECT reason, count(*) AS n FROM staged WHERE reason IS NOT NULL
        GROUP BY reason ORDER BY n DESC, reason LIMIT 5
        """
    ).fetchall()
    return FileLoad(
        feed=feed.name,
        partition_key=partition_key,
        source_file=source_file,
        sha256=sha256,
        size_bytes=int(size_bytes),
        data_lines=int(data_lines),
        loaded=int(loaded),
        rejected=int(rejected),
        blank_lines=int(blank_lines),
        top_reasons={reason: int(n) for reason, n in reasons},
    )
