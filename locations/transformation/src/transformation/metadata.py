"""What the models' writes share: the run's days and what a write reports.

Each write replaces exactly what the run covers (the whole table, or the run's
partitions) with a DELETE and an INSERT in one transaction, so a rerun or an overlapping
backfill converges on the same rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from platform_shared.metadata import table_metadata
from platform_shared.validation import parse_partition_date


def table_name_metadata(key: dg.AssetKey) -> dict[str, Any]:
    return {"dagster/table_name": f"{key.path[0]}.{key.path[1]}"}


def date_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """First and last day of the run: one partition or a range, validated as dates."""
    key_range = context.partition_key_range
    return parse_partition_date(key_range.start), parse_partition_date(key_range.end)


def range_metadata(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    first: dt.date,
    last: dt.date,
    order_by: str,
) -> dict[str, Any]:
    """Row count, revenue, schema and preview of the run's days.

    Dagster copies a range run's metadata onto every partition's event, so a range keeps
    the markdown preview and leaves out the table-typed one (the same rows again, with
    their schema: 40% of each event's size). A single-partition run has both.
    """
    where = f"{column} BETWEEN $1 AND $2"
    metadata = table_metadata(
        conn,
        table,
        where=where,
        params=[first, last],
        order_by=order_by,
        table_preview=first == last,
    )
    total = conn.execute(f"SELECT sum(revenue) FROM {table} WHERE {where}", [first, last])
    row = total.fetchone()
    metadata["revenue"] = dg.MetadataValue.float(float(row[0] or 0) if row else 0.0)
    return metadata


def log_written(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    table: str,
    metadata: dict[str, Any],
    first: dt.date,
    last: dt.date,
) -> None:
    days = (last - first).days + 1
    context.log.info(
        f"Replaced {table} for {first}..{last} ({days} day{'s' if days > 1 else ''}): "
        f"{metadata['dagster/row_count'].value} rows"
    )
