"""Helpers for SQL asset checks: a check is a query returning the failing rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from platform_shared.metadata import markdown_table


def failing_rows_check(
    conn: duckdb.DuckDBPyConnection,
    failing_rows_sql: str,
    params: Sequence[Any] = (),
    *,
    check_name: str | None = None,
    description: str = "",
    sample_size: int = 5,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
) -> AssetCheckResult:
    """Pass when ``failing_rows_sql`` returns no row; report the count and a sample."""
    cursor = conn.execute(f"SELECT * FROM ({failing_rows_sql}) LIMIT {int(sample_size)}", params)
    columns = [d[0] for d in cursor.description]
    sample = cursor.fetchall()
    failing = len(sample)
    # Only a failing check pays for a second scan: a passing one is known from the sample.
    if failing == int(sample_size):
        count_row = conn.execute(f"SELECT count(*) FROM ({failing_rows_sql})", params).fetchone()
        failing = int(count_row[0]) if count_row else 0
    metadata: dict[str, Any] = {"failing_count": MetadataValue.int(failing)}
    if description:
        metadata["rule"] = MetadataValue.text(description)
    if failing:
        metadata["failing_sample"] = MetadataValue.md(markdown_table(columns, sample))
    kwargs: dict[str, Any] = {"check_name": check_name} if check_name else {}
    return AssetCheckResult(passed=failing == 0, severity=severity, metadata=metadata, **kwargs)
