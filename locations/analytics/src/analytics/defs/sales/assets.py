"""The sales marts: ``sales_summary`` (revenue per region, also published as a CSV file)
and ``top_products`` (the best-selling products by revenue)."""

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from analytics.defs.sales import SQL
from analytics.defs.upstream import ENRICHED_SALES
from analytics.exports import export_query
from analytics.keys import (
    HIGH_PRIORITY,
    LOCATION,
    OWNERS,
    SALES_MARTS,
    SALES_SUMMARY,
    TIMEZONE,
    TOP_PRODUCTS,
)
from analytics.metadata import asset_page, scalar
from analytics.resources import PlatformLinks
from platform_shared.metadata import committed_metadata, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import Exports, WarehouseResource


@dg.asset(
    key_prefix=[LOCATION],
    group_name=SALES_MARTS,
    deps=[ENRICHED_SALES],
    kinds={"duckdb", "csv"},
    tags=HIGH_PRIORITY,
    owners=OWNERS,
    # Rebuilt within the 24 hours before 09:00 on business days (business_critical_schedule
    # runs at 08:00; refreshes requested by upstream loads count as well).
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 9 * * 1-5", lower_bound_delta=dt.timedelta(hours=24), timezone=TIMEZONE
    ),
    description=(
        "Per region over all loaded sales: orders, units, revenue, average order value "
        "and share of total revenue. Also published as sales_summary.csv under EXPORT_URL."
    ),
)
def sales_summary(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    exports: Exports,
    links: PlatformLinks,
) -> dg.MaterializeResult:
    table = table_name(SALES_SUMMARY)
    export_name = "sales_summary.csv"
    with exports.staged(export_name) as staging:

        def rebuild(conn: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], Any]:
            SQL.rebuild_table(conn, "sales_summary")
            order = "revenue DESC, region"
            export_query(conn, f"SELECT * FROM {table} ORDER BY {order}", staging, "csv")
            total = scalar(conn, f"SELECT coalesce(sum(revenue), 0) FROM {table}")
            return table_metadata(conn, table, order_by=order, table_preview=True), total

        committed = warehouse.write(rebuild, what=table)
    metadata, total_revenue = committed.value
    num_records = int(metadata["dagster/row_count"].value)
    context.log.info(f"Published {num_records} regions, total revenue {total_revenue}")
    return dg.MaterializeResult(
        metadata=merge(
            metadata,
            {
                "num_records": dg.MetadataValue.int(num_records),
                "total_revenue": dg.MetadataValue.float(float(total_revenue)),
                "export_path": dg.MetadataValue.path(exports.reference(export_name)),
                "export_link": dg.MetadataValue.url(exports.link(export_name)),
            },
            committed_metadata(committed),
            asset_page(links, SALES_SUMMARY),
        )
    )


TOP_PRODUCTS_LIMIT = 10


@dg.asset(
    key_prefix=[LOCATION],
    group_name=SALES_MARTS,
    deps=[ENRICHED_SALES],
    kinds={"duckdb"},
    owners=OWNERS,
    # Follows the daily feeds through the upstream-driven refresh; two days without a
    # rebuild means the refresh path is broken.
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=48), warn_window=dt.timedelta(hours=26)
    ),
    description=(
        f"The {TOP_PRODUCTS_LIMIT} products with the highest revenue over all loaded sales, "
        "with category, orders, units and share of total revenue."
    ),
)
def top_products(warehouse: WarehouseResource, links: PlatformLinks) -> dg.MaterializeResult:
    table = table_name(TOP_PRODUCTS)

    def rebuild(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        SQL.rebuild_table(conn, "top_products", [TOP_PRODUCTS_LIMIT])
        return table_metadata(conn, table, order_by="rank")

    committed = warehouse.write(rebuild, what=table)
    return dg.MaterializeResult(
        metadata=merge(
            committed.value, committed_metadata(committed), asset_page(links, TOP_PRODUCTS)
        )
    )
