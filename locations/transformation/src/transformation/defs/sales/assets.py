"""Daily sales models, built by SQL inside the warehouse from ingestion's fact tables.

No partition of the facts ever travels through Python. The assets take ranges: a run over
many days (a backfill launched as a single run, or a sensor's batched request) replaces
them all in one pass.
"""

from typing import Any

import dagster as dg
import duckdb

from platform_shared.metadata import committed_metadata, merge
from platform_shared.naming import table_name, write_scope
from platform_shared.partitions import daily_partitions
from platform_shared.resources import WarehouseResource
from transformation.defs.sales import SQL
from transformation.defs.sales.checks import ENRICHED_SALES_CHECKS, enriched_sales_check_results
from transformation.keys import (
    CUSTOMERS,
    DAILY_SALES,
    ENRICHED_SALES,
    LOCATION,
    OWNERS,
    PRODUCTS,
    SALES,
    SALES_GROUP,
)
from transformation.writes import (
    date_range,
    log_written,
    range_metadata,
    table_name_metadata,
)


def _daily_args(key: dg.AssetKey, partition_column: str) -> dict[str, Any]:
    return {
        "key_prefix": [LOCATION],
        "group_name": SALES_GROUP,
        "owners": OWNERS,
        "kinds": {"duckdb", "sql"},
        "partitions_def": daily_partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "metadata": {**table_name_metadata(key), "partition_expr": partition_column},
    }


@dg.asset(
    **_daily_args(ENRICHED_SALES, "sale_date"),
    # Three explicit upstream assets, Nothing-typed: the join runs inside DuckDB.
    ins={
        "sales": dg.AssetIn(key=SALES, dagster_type=dg.Nothing),
        "products": dg.AssetIn(key=PRODUCTS, dagster_type=dg.Nothing),
        "customers": dg.AssetIn(key=CUSTOMERS, dagster_type=dg.Nothing),
    },
    check_specs=ENRICHED_SALES_CHECKS,
)
def enriched_sales(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Every sale line with its product's name and category, its customer's region and its
    revenue (quantity x the line's unit price)."""
    first, last = date_range(context)
    table = table_name(ENRICHED_SALES)

    def replace(conn: duckdb.DuckDBPyConnection):
        SQL.create_table(conn, "enriched_sales")
        conn.execute(f"DELETE FROM {table} WHERE sale_date BETWEEN $1 AND $2", [first, last])
        conn.execute(SQL.query("enriched_sales.insert"), [first, last])
        metadata = range_metadata(conn, table, "sale_date", first, last, "sale_date, sale_id")
        return metadata, enriched_sales_check_results(conn, first, last)

    committed = warehouse.write(replace, what=write_scope(table, first, last))
    metadata, checks = committed.value
    log_written(context, table, metadata, first, last)
    return dg.MaterializeResult(
        metadata=merge(metadata, committed_metadata(committed)), check_results=checks
    )


@dg.asset(
    **_daily_args(DAILY_SALES, "date"),
    deps=[ENRICHED_SALES],
)
def daily_sales(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per day: distinct orders, units sold and revenue."""
    first, last = date_range(context)
    table = table_name(DAILY_SALES)

    def replace(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        SQL.create_table(conn, "daily_sales")
        conn.execute(f"DELETE FROM {table} WHERE date BETWEEN $1 AND $2", [first, last])
        conn.execute(SQL.query("daily_sales.insert"), [first, last])
        return range_metadata(conn, table, "date", first, last, "date")

    committed = warehouse.write(replace, what=write_scope(table, first, last))
    metadata = committed.value
    log_written(context, table, metadata, first, last)
    return dg.MaterializeResult(metadata=merge(metadata, committed_metadata(committed)))
