"""``customer_lifetime_value``: orders and revenue per customer over all loaded sales."""

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from analytics.defs.customers import SQL
from analytics.defs.upstream import CUSTOMER_ORDERS, ENRICHED_SALES
from analytics.keys import CUSTOMER_LIFETIME_VALUE, CUSTOMER_MARTS, LOCATION, OWNERS, TIMEZONE
from analytics.metadata import asset_page, scalar
from analytics.resources import PlatformLinks
from platform_shared.metadata import committed_metadata, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import WarehouseResource


@dg.asset(
    key_prefix=[LOCATION],
    group_name=CUSTOMER_MARTS,
    deps=[ENRICHED_SALES, CUSTOMER_ORDERS],
    kinds={"duckdb"},
    owners=OWNERS,
    # Read at the Monday customer review: rebuilt within the 24 hours before Monday
    # 10:00 (weekly_review_schedule runs at 09:00).
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 10 * * 1", lower_bound_delta=dt.timedelta(hours=24), timezone=TIMEZONE
    ),
    description=(
        "Per customer: orders, revenue, first and last purchase date, average order value "
        "and region, over all loaded sales. Every known customer has a row; those without "
        "a sale line have zero orders and revenue."
    ),
)
def customer_lifetime_value(
    warehouse: WarehouseResource, links: PlatformLinks
) -> dg.MaterializeResult:
    table = table_name(CUSTOMER_LIFETIME_VALUE)

    def rebuild(conn: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], Any]:
        SQL.rebuild_table(conn, "customer_lifetime_value")
        buyers = scalar(conn, f"SELECT count(*) FROM {table} WHERE orders > 0")
        return table_metadata(conn, table, order_by="revenue DESC, customer_id"), buyers

    committed = warehouse.write(rebuild, what=table)
    metadata, buyers = committed.value
    return dg.MaterializeResult(
        metadata=merge(
            metadata,
            {"customers_with_purchases": dg.MetadataValue.int(int(buyers))},
            committed_metadata(committed),
            asset_page(links, CUSTOMER_LIFETIME_VALUE),
        )
    )
