"""``sales_summary``: revenue per region, also published as a CSV file."""

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

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
from platform_shared.metadata import committed_metadata, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import ExportFolder, WarehouseResource

SQL = sql_beside(__name__)


@dg.asset(
    key_prefix=[SCHEMA],
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
    with staged_file(export_path) as staging:

        def rebuild(conn: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], Any]:
            rebuild_table(conn, SQL, "sales_summary")
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
                "export_path": dg.MetadataValue.path(str(export_path)),
            },
            committed_metadata(committed),
            asset_page(links, SALES_SUMMARY),
        )
    )
