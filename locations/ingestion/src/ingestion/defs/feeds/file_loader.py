"""Load a batch of landing files into their table, entirely inside DuckDB.

The files are read as bytes and split into numbered lines in SQL, each line is parsed and
checked against the feed's typed schema, then the good rows replace what the same files
loaded before and the refused ones replace their previous entries in
``ingestion.rejected_rows``. A batch is one set of statements however many files it
holds, so a year of daily files costs a handful of statements, not thousands. The caller
holds the transaction, so a reload is all or nothing. Invariant, per file: loaded +
rejected = data lines (non-blank lines after the header).

SQL lives in ``sql/``; the few statements below are formatted only with table and column
names taken from :mod:`ingestion.feeds`, never with input. Values are bound parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb

from ingestion.defs.feeds import SQL
from ingestion.feeds import Feed
from ingestion.metadata import FileLoad
from platform_shared.lake import enable_object_store
from platform_shared.storage import is_url

REJECTED_ROWS = '"ingestion"."rejected_rows"'


class BadFileError(ValueError):
    """The file as a whole breaks the landing contract (e.g. wrong header): nothing loads."""


def prepare(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schema and tables if needed, and this connection's parsing macros."""
    conn.execute(SQL.query("schema"))
    conn.execute(SQL.query("macros"))


@dataclass(frozen=True)
class Target:
    """One file to load: its validated partition key (``None``: snapshot), its name
    relative to the landing zone (as recorded in ``rejected_rows``), what DuckDB reads it
    by (a path, or an ``s3://`` URL) and its size as listed."""

    partition_key: str | None
    source_file: str
    reference: str
    size: int


# Files are read into memory in batches of about this many bytes: enough for DuckDB to
# parse on every core, small enough that a year of files never needs the whole year in
# memory at once (the warehouse's memory limit bounds the rest; see WAREHOUSE_MEMORY_LIMIT).
BATCH_BYTES = 128 * 1024 * 1024


def batches(targets: Sequence[Target], limit: int | None = None) -> Iterator[list[Target]]:
    """``targets`` in order, cut into runs of at most ``limit`` bytes (default
    :data:`BATCH_BYTES`); a larger file is a batch of its own."""
    limit = BATCH_BYTES if limit is None else limit
    batch: list[Target] = []
    size = 0
    for target in targets:
        file_size = target.size
        if batch and size + file_size > limit:
            yield batch
            batch, size = [], 0
        batch.append(target)
        size += file_size
    if batch:
        yield batch


def load_files(
    conn: duckdb.DuckDBPyConnection,
    feed: Feed,
    targets: Sequence[Target],
    *,
    rejected_at: dt.datetime,
) -> list[FileLoad]:
    """Replace the rows of ``feed`` from every file of ``targets``, in one set of statements.

    A partition key appears at most once. Run inside a transaction after :func:`prepare`;
    a file whose header breaks the contract raises :class:`BadFileError` before anything
    is written.
    """
    if not targets:
        return []
    keys = [t.partition_key for t in targets]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{feed.name}: a partition appears twice in one load: {keys}")
    references = [t.reference for t in targets]
    if any(is_url(reference) for reference in references):
        enable_object_store(conn)
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE landing_targets AS
        SELECT unnest(?::INTEGER[]) AS file_id, unnest(?::VARCHAR[]) AS path,
               unnest(?::VARCHAR[]) AS source_file, unnest(?::VARCHAR[]) AS partition_key
        """,
        [
            list(range(len(targets))),
            references,
            [t.source_file for t in targets],
            keys,
        ],
    )
    conn.execute(SQL.query("read_files"), [references])
    conn.execute(SQL.query("read_lines"))
    _check_headers(conn, feed)
    conn.execute(SQL.query("split_fields"))
    conn.execute(SQL.query(f"stage_{feed.name}"))
    _replace(conn, feed, rejected_at)
    return _summary(conn, feed, targets)


def _check_headers(conn: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    for _file_id, source_file, header, has_content in conn.execute(
        SQL.query("check_headers")
    ).fetchall():
        if not has_content:
            continue  # zero bytes or blank: an empty delivery, loads zero rows
        found = [h.lower() for h in header] if header is not None else None
        if found != list(feed.columns):
            raise BadFileError(
                f"{source_file}: header {found!r} does not match the contract "
                f"{list(feed.columns)!r}; nothing was loaded"
            )


def _replace(conn: duckdb.DuckDBPyConnection, feed: Feed, rejected_at: dt.datetime) -> None:
    good_columns = "staged.* EXCLUDE (file_id, line_number, raw_line, reason)"
    if feed.partition_column is not None:
        conn.execute(
            f"""
            DELETE FROM {feed.table}
            WHERE {feed.partition_column} IN (SELECT partition_key::DATE FROM landing_targets)
            """
        )
        conn.execute(
            f"""
            INSERT INTO {feed.table} BY NAME
            SELECT {good_columns}, targets.partition_key::DATE AS {feed.partition_column}
            FROM staged JOIN landing_targets AS targets USING (file_id)
            WHERE staged.reason IS NULL
            ORDER BY staged.file_id, staged.line_number
            """
        )
    else:
        conn.execute(f"DELETE FROM {feed.table}")
        conn.execute(
            f"""
            INSERT INTO {feed.table} BY NAME
            SELECT {good_columns} FROM staged
            WHERE staged.reason IS NULL ORDER BY staged.file_id, staged.line_number
            """
        )
    conn.execute(
        f"""
        DELETE FROM {REJECTED_ROWS} AS rejected
        WHERE asset = ? AND EXISTS (
            SELECT 1 FROM landing_targets AS targets
            WHERE targets.partition_key IS NOT DISTINCT FROM rejected.partition_key)
        """,
        [feed.name],
    )
    conn.execute(
        f"""
        INSERT INTO {REJECTED_ROWS}
            (asset, partition_key, source_file, line_number, raw_line, reason, rejected_at)
        SELECT ?, targets.partition_key, targets.source_file, staged.line_number,
               staged.raw_line, staged.reason, ?
        FROM staged JOIN landing_targets AS targets USING (file_id)
        WHERE staged.reason IS NOT NULL
        ORDER BY staged.file_id, staged.line_number
        """,
        [feed.name, rejected_at],
    )


def _summary(
    conn: duckdb.DuckDBPyConnection, feed: Feed, targets: Sequence[Target]
) -> list[FileLoad]:
    rows = conn.execute(SQL.query("summary")).fetchall()
    if len(rows) != len(targets):
        # read_blob names each file as it was given; a lost row means a file was not read.
        raise RuntimeError(f"{feed.name}: read {len(rows)} of {len(targets)} files")
    return [
        FileLoad(
            feed=feed.name,
            partition_key=target.partition_key,
            source_file=target.source_file,
            sha256=sha256,
            size_bytes=int(size_bytes),
            data_lines=int(data_lines),
            loaded=int(loaded),
            rejected=int(rejected),
            blank_lines=int(blank_lines),
            top_reasons={entry["reason"]: int(entry["n"]) for entry in top_reasons},
        )
        for target, (
            _file_id,
            sha256,
            size_bytes,
            data_lines,
            loaded,
            rejected,
            blank_lines,
            top_reasons,
        ) in zip(targets, rows, strict=True)
    ]
