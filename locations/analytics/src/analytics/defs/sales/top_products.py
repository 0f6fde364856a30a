"""``top_products``: the best-selling products by revenue."""

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from analytics.defs.upstream import ENRICHED_SALES
from analytics.publishing import asset_page, rebuild_table, sql_beside
from analytics.resources import PlatformLinks
from analytics.tables import OWNERS, SALES_MARTS, SCHEMA, TOP_PRODUCTS
from platform_shared.metadata import committed_metadata, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import WarehouseResource

SQL = sql_beside(__name__)
TOP_PRODUCTS_LIMIT = 10


@dg.asset(
    key_prefix=[SCHEMA],
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
        rebuild_table(conn, SQL, "top_products", [TOP_PRODUCTS_LIMIT])
        return table_metadata(conn, table, order_by="rank")

    committed = warehouse.write(rebuild, what=table)
    return dg.MaterializeResult(
        metadata=merge(
            committed.value, committed_metadata(committed), asset_page(links, TOP_PRODUCTS)
        )
    )
