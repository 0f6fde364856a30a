"""Published marts and reports: the tables business users read.

Each asset rebuilds its table in full from transformation's tables (see
:mod:`analytics.publishing`) under the warehouse pool, and reports what it published as
materialization metadata. Freshness deadlines are business wall-clock times in the
platform's timezone; the comment at each policy names the schedule that meets it.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field, field_validator

from analytics.charts import daily_revenue_chart, markdown_image
from analytics.external import CUSTOMER_ORDERS, ENRICHED_SALES, REGIONAL_DAILY_SALES
from analytics.publishing import SCHEMA, export_query, rebuild_table, staged_file
from analytics.resources import PlatformLinks
from platform_shared.metadata import merge, table_metadata
from platform_shared.naming import group_name, table_name
from platform_shared.resources import WAREHOUSE_POOL, ExportFolder, WarehouseResource
from platform_shared.settings import current
from platform_shared.validation import parse_partition_date

SALES_MARTS = group_name(SCHEMA, "sales_marts")
CUSTOMER_MARTS = group_name(SCHEMA, "customer_marts")
REPORTS = group_name(SCHEMA, "reports")

SALES_SUMMARY = dg.AssetKey([SCHEMA, "sales_summary"])
TOP_PRODUCTS = dg.AssetKey([SCHEMA, "top_products"])
CUSTOMER_LIFETIME_VALUE = dg.AssetKey([SCHEMA, "customer_lifetime_value"])
DAILY_REVENUE_REPORT = dg.AssetKey([SCHEMA, "daily_revenue_report"])

# Business-critical: the morning numbers people act on. Jobs select them by this tag.
HIGH_PRIORITY = {"priority": "high"}
OWNERS = ["team:analytics"]
TOP_PRODUCTS_LIMIT = 10
TIMEZONE = current("PLATFORM_TIMEZONE")


def _scalar(conn: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params or []).fetchone()
    return row[0] if row else None


def _asset_page(links: PlatformLinks, key: dg.AssetKey) -> dict[str, Any]:
    return {"asset_url": dg.MetadataValue.url(links.asset_url(key))}


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
        rebuild_table(conn, "sales_summary")
        export_query(conn, f"SELECT * FROM {table} ORDER BY revenue DESC, region", staging, "csv")
        total_revenue = _scalar(conn, f"SELECT coalesce(sum(revenue), 0) FROM {table}")
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
            _asset_page(links, SALES_SUMMARY),
        )
    )


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
        rebuild_table(conn, "top_products", [TOP_PRODUCTS_LIMIT])
        metadata = table_metadata(conn, table, order_by="rank")
    return dg.MaterializeResult(metadata=merge(metadata, _asset_page(links, TOP_PRODUCTS)))


@dg.asset(
    key_prefix=[SCHEMA],
    group_name=CUSTOMER_MARTS,
    deps=[ENRICHED_SALES, CUSTOMER_ORDERS],
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
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
    with warehouse.transaction() as conn:
        rebuild_table(conn, "customer_lifetime_value")
        buyers = _scalar(conn, f"SELECT count(*) FROM {table} WHERE orders > 0")
        metadata = table_metadata(conn, table, order_by="revenue DESC, customer_id")
    return dg.MaterializeResult(
        metadata=merge(
            metadata,
            {"customers_with_purchases": dg.MetadataValue.int(int(buyers))},
            _asset_page(links, CUSTOMER_LIFETIME_VALUE),
        )
    )


class ReportConfig(dg.Config):
    """The days ``daily_revenue_report`` covers: ``lookback_days`` ending at ``report_date``."""

    report_date: str | None = Field(
        default=None,
        description=(
            "Last day of the report, YYYY-MM-DD. Default: the latest date in "
            "transformation's regional_daily_sales."
        ),
    )
    lookback_days: int = Field(
        default=30, ge=1, le=366, description="Days in the report, the report date included."
    )

    @field_validator("report_date")
    @classmethod
    def _strict_date(cls, value: str | None) -> str | None:
        # The date names export files and reaches SQL: reject anything but YYYY-MM-DD
        # before the run touches the warehouse.
        if value is not None:
            parse_partition_date(value, "report_date")
        return value

    def window(self, latest: dt.date | None) -> tuple[dt.date, dt.date] | None:
        """First and last day, given the latest loaded date; ``None`` if there is no end."""
        end = parse_partition_date(self.report_date, "report_date") if self.report_date else latest
        if end is None:
            return None
        return end - dt.timedelta(days=self.lookback_days - 1), end


@dg.asset(
    key_prefix=[SCHEMA],
    group_name=REPORTS,
    deps=[REGIONAL_DAILY_SALES],
    kinds={"duckdb", "parquet", "matplotlib"},
    tags=HIGH_PRIORITY,
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    # Yesterday's report must exist by 03:30 (daily_revenue_report_schedule runs at 02:30).
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="30 3 * * *", lower_bound_delta=dt.timedelta(hours=1), timezone=TIMEZONE
    ),
    description=(
        "Daily revenue per region over a window (run config: report_date, lookback_days), "
        "with each region's share of the day; published with a chart (PNG) and a Parquet "
        "file named after the window in the export folder."
    ),
)
def daily_revenue_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    exports: ExportFolder,
    links: PlatformLinks,
) -> dg.MaterializeResult:
    table = table_name(DAILY_REVENUE_REPORT)
    with warehouse.get_connection() as conn:
        latest = _scalar(conn, f"SELECT max(date) FROM {table_name(REGIONAL_DAILY_SALES)}")
    window = config.window(latest)
    if window is None:
        raise dg.Failure(
            description="transformation.regional_daily_sales is empty and no report_date "
            "was given: there is no day to report on.",
            allow_retries=False,
        )
    start, end = window
    stem = f"daily_revenue_report_{end.isoformat()}_{config.lookback_days}d"
    data_path = exports.path_for(f"{stem}.parquet")
    chart_path = exports.path_for(f"{stem}.png")

    with (
        staged_file(data_path) as data_staging,
        staged_file(chart_path) as chart_staging,
        warehouse.transaction() as conn,
    ):
        rebuild_table(conn, "daily_revenue_report", [start, end])
        export_query(conn, f"SELECT * FROM {table} ORDER BY date, region", data_staging, "parquet")
        rows = conn.execute(
            f"SELECT date, region, revenue FROM {table} ORDER BY date, region"
        ).fetchall()
        metadata = table_metadata(conn, table, order_by="date DESC, region")
        # Rendered before the commit: a failing chart leaves table and files untouched.
        png = daily_revenue_chart(
            rows, start=start, end=end, title=f"Daily revenue by region, {start} to {end}"
        )
        chart_staging.write_bytes(png)

    days_with_data = len({day for day, _, _ in rows})
    if days_with_data < config.lookback_days:
        context.log.warning(
            f"Only {days_with_data} of {config.lookback_days} days between {start} and {end} "
            "have sales loaded"
        )
    total_revenue = sum((revenue for _, _, revenue in rows), Decimal(0))
    return dg.MaterializeResult(
        metadata=merge(
            metadata,
            {
                "window_start": dg.MetadataValue.text(start.isoformat()),
                "window_end": dg.MetadataValue.text(end.isoformat()),
                "lookback_days": dg.MetadataValue.int(config.lookback_days),
                "days_with_data": dg.MetadataValue.int(days_with_data),
                "total_revenue": dg.MetadataValue.float(float(total_revenue)),
                "chart": dg.MetadataValue.md(markdown_image(png, "Daily revenue by region")),
                "chart_path": dg.MetadataValue.path(str(chart_path)),
                "export_path": dg.MetadataValue.path(str(data_path)),
            },
            _asset_page(links, DAILY_REVENUE_REPORT),
        )
    )


PUBLISHED_ASSETS = (sales_summary, top_products, customer_lifetime_value, daily_revenue_report)
