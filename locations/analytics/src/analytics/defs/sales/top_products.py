"""``top_products``: the best-selling products by revenue."""

import datetime as dt

import dagster as dg

from analytics.defs.upstream import ENRICHED_SALES
from analytics.publishing import asset_page, rebuild_table, sql_beside
from analytics.resources import PlatformLinks
from analytics.tables import OWNERS, SALES_MARTS, SCHEMA, TOP_PRODUCTS
from platform_shared.metadata import merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import WAREHOUSE_POOL, WarehouseResource

SQL = sql_beside(__name__)
TOP_PRODUCTS_LIMIT = 10


@dg.asset(
    key_prefix=[SCHEMA],
    group_name=SALES_MARTS,
    deps=[ENRICHED_SALES],
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
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
    with warehouse.transaction() as conn:
        rebuild_table(conn, SQL, "top_products", [TOP_PRODUCTS_LIMIT])
        metadata = table_metadata(conn, table, order_by="rank")
    return dg.MaterializeResult(metadata=merge(metadata, asset_page(links, TOP_PRODUCTS)))
