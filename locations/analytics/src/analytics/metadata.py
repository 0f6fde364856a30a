"""What every published table reports besides its table metadata."""

from __future__ import annotations

from typing import Any

import dagster as dg
import duckdb

from analytics.resources import PlatformLinks


def scalar(conn: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of ``query``, ``None`` without a row."""
    row = conn.execute(query, params or []).fetchone()
    return row[0] if row else None


def asset_page(links: PlatformLinks, key: dg.AssetKey) -> dict[str, Any]:
    """The ``asset_url`` metadata entry every published table reports."""
    return {"asset_url": dg.MetadataValue.url(links.asset_url(key))}
