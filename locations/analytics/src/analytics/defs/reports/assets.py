"""``daily_revenue_report``: revenue per day and region over a window, with a chart."""

import datetime as dt
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field, field_validator

from analytics.defs.reports import SQL
from analytics.defs.reports.charts import daily_revenue_chart, markdown_image
from analytics.defs.upstream import REGIONAL_DAILY_SALES
from analytics.exports import export_query
from analytics.keys import DAILY_REVENUE_REPORT, HIGH_PRIORITY, LOCATION, OWNERS, REPORTS, TIMEZONE
from analytics.metadata import asset_page, scalar
from analytics.resources import PlatformLinks
from platform_shared.metadata import committed_metadata, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import Exports, WarehouseResource
from platform_shared.validation import parse_partition_date


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
    key_prefix=[LOCATION],
    group_name=REPORTS,
    deps=[REGIONAL_DAILY_SALES],
    kinds={"duckdb", "parquet", "matplotlib"},
    tags=HIGH_PRIORITY,
    owners=OWNERS,
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
    exports: Exports,
    links: PlatformLinks,
) -> dg.MaterializeResult:
    table = table_name(DAILY_REVENUE_REPORT)
    with warehouse.get_connection() as conn:
        latest = scalar(conn, f"SELECT max(date) FROM {table_name(REGIONAL_DAILY_SALES)}")
    window = config.window(latest)
    if window is None:
        raise dg.Failure(
            description="transformation.regional_daily_sales is empty and no report_date "
            "was given: there is no day to report on.",
            allow_retries=False,
        )
    start, end = window
    stem = f"daily_revenue_report_{end.isoformat()}_{config.lookback_days}d"
    data_name, chart_name = f"{stem}.parquet", f"{stem}.png"

    with exports.staged(data_name) as data_staging, exports.staged(chart_name) as chart_staging:

        def rebuild(conn: duckdb.DuckDBPyConnection) -> tuple[list[Any], dict[str, Any], bytes]:
            SQL.rebuild_table(conn, "daily_revenue_report", [start, end])
            order = "date, region"
            export_query(conn, f"SELECT * FROM {table} ORDER BY {order}", data_staging, "parquet")
            rows = conn.execute(f"SELECT date, region, revenue FROM {table} ORDER BY {order}")
            rows = rows.fetchall()
            metadata = table_metadata(conn, table, order_by="date DESC, region")
            # Rendered before the commit: a failing chart leaves table and files untouched.
            png = daily_revenue_chart(
                rows, start=start, end=end, title=f"Daily revenue by region, {start} to {end}"
            )
            chart_staging.write_bytes(png)
            return rows, metadata, png

        committed = warehouse.write(rebuild, what=f"{table} {start}..{end}")
    rows, metadata, png = committed.value

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
                "chart_path": dg.MetadataValue.path(exports.reference(chart_name)),
                "chart_link": dg.MetadataValue.url(exports.link(chart_name)),
                "export_path": dg.MetadataValue.path(exports.reference(data_name)),
                "export_link": dg.MetadataValue.url(exports.link(data_name)),
            },
            committed_metadata(committed),
            asset_page(links, DAILY_REVENUE_REPORT),
        )
    )


def report_run_config(report_date: dt.date, lookback_days: int) -> dict[str, Any]:
    """Run config of a job containing ``daily_revenue_report`` for one window.

    Built through :class:`ReportConfig` so a wrong value fails the tick, not the run.
    """
    config = ReportConfig(report_date=report_date.isoformat(), lookback_days=lookback_days)
    return {"ops": {daily_revenue_report.op.name: {"config": config.model_dump()}}}
