"""Materialization metadata built from the warehouse itself (no DataFrame round trip)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

if TYPE_CHECKING:
    from platform_shared.resources import Committed

# DuckDB type names mapped to the coarse types the UI understands.
_UI_TYPES = {
    "BIGINT": "int",
    "INTEGER": "int",
    "HUGEINT": "int",
    "DOUBLE": "float",
    "FLOAT": "float",
    "BOOLEAN": "bool",
    "VARCHAR": "string",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}


def _ui_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "decimal"
    return _UI_TYPES.get(duckdb_type, duckdb_type.lower())


def table_schema(conn: duckdb.DuckDBPyConnection, table: str) -> TableSchema:
    """The columns of ``table`` (a quoted ``schema.table``) as a Dagster ``TableSchema``."""
    described = conn.execute(f"DESCRIBE {table}").fetchall()
    return TableSchema(
        columns=[
            TableColumn(name=name, type=_ui_type(col_type), description=None)
            for name, col_type, *_ in described
        ]
    )


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; pipes in values are escaped."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        # The UI renders table records by type: money must stay a number, not text.
        return float(value)
    return str(value)


def table_metadata(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    *,
    where: str = "TRUE",
    params: Sequence[Any] = (),
    order_by: str | None = None,
    preview_rows: int = 5,
    table_preview: bool = False,
) -> dict[str, Any]:
    """Row count, markdown preview, schema (JSON and ``dagster/column_schema``).

    ``where``/``params`` scope the figures to one partition: ``where`` is a SQL predicate
    written by the caller, values always travel as bound parameters. With
    ``table_preview`` a ``MetadataValue.table`` preview is added too.
    """
    schema = table_schema(conn, table)
    count_row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()
    row_count = int(count_row[0]) if count_row else 0
    order = f"ORDER BY {order_by}" if order_by else ""
    cursor = conn.execute(
        f"SELECT * FROM {table} WHERE {where} {order} LIMIT {int(preview_rows)}", params
    )
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    metadata: dict[str, Any] = {
        "dagster/row_count": MetadataValue.int(row_count),
        "dagster/column_schema": schema,
        "preview": MetadataValue.md(markdown_table(columns, rows)),
        "schema": MetadataValue.json({c.name: c.type for c in schema.columns}),
    }
    if table_preview:
        metadata["table_preview"] = MetadataValue.table(
            records=[
                TableRecord({c: _jsonable(v) for c, v in zip(columns, row, strict=True)})
                for row in rows
            ],
            schema=schema,
        )
    return metadata


def merge(*parts: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


def committed_metadata(committed: Committed[Any]) -> dict[str, Any]:
    """The lake snapshot a write committed: ``AT (VERSION => id)`` reads the table as this
    materialization left it. A unit that changed nothing commits no snapshot."""
    if committed.snapshot_id is None:
        return {}
    return {"lake_snapshot_id": MetadataValue.int(committed.snapshot_id)}
