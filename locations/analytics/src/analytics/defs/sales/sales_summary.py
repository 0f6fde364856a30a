"""``sales_summary``: revenue per region, also published as a CSV file."""

import datetime as dt

import dagster as dg

from analytics.defs.upstream import ENRICHED_SALES
from analytics.publishing import (
    asset_page,
    export_query,
    rebuild_table,
    scalar,
    sql_beside,
    staged_file,
)
from analytics.resources import PlatformLinks
from analytics.tables import HIGH_PRIORITY, OWNERS, SALES_MARTS, SALES_SUMMARY, SCHEMA, TIMEZONE
from platform_shared.metadata import merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import WAREHOUSE_POOL, ExportFolder, WarehouseResource

SQL = sql_beside(__name__)


@dg.asset(
    key_prefix=[SCHEMA],
    group_name=SALES_MARTS,
    deps=[ENRICHED_SALES],
    kinds={"duckdb", "csv"},
    tags=HIGH_PRIORITY,
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    # Rebuilt within the 24 hours before 09:00 on business days (business_critical_schedule
    # runs at 08:00; refreshes requested by upstream loads count as well).
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 9 * * 1-5", lower_bound_delta=dt.timedelta(hours=24), timezone=TIMEZONE
    ),
    description=(
        "Per region over all loaded sales: orders, units, revenue, average order value "
        "and share of total revenue. Also published as sales_summary.csv in the export "
        "folder."
    ),
)
def sales_summary(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    exports: ExportFolder,
    links: PlatformLinks,
) -> dg.MaterializeResult:
    table = table_name(SALES_SUMMARY)
    export_path = exports.path_for("sales_summary.csv")
    with staged_file(export_path) as staging, warehouse.transaction() as conn:
        rebuild_table(conn, SQL, "sales_summary")
        export_query(conn, f"SELECT * FROM {table} ORDER BY revenue DESC, region", staging, "csv")
        total_revenue = scalar(conn, f"SELECT coalesce(sum(revenue), 0) FROM {table}")
        metadata = table_metadata(conn, table, order_by="revenue DESC, region", table_preview=True)
    num_records = int(metadata["dagster/row_count"].value)
    context.log.info(f"Published {num_records} regions, total revenue {total_revenue}")
    return dg.MaterializeResult(
        metadata=merge(
            metadata,
            {
                "num_records": dg.MetadataValue.int(num_records),
                "total_revenue": dg.MetadataValue.float(float(total_revenue)),
                "export_path": dg.MetadataValue.path(str(export_path)),
            },
            asset_page(links, SALES_SUMMARY),
        )
    )
