"""Published tables, exports and metadata, asserted value by value on the seed warehouse."""

import base64
import csv
import datetime as dt
import io
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from PIL import Image

from analytics.defs.customers.assets import customer_lifetime_value
from analytics.defs.reports.assets import ReportConfig, daily_revenue_report
from analytics.defs.sales.assets import sales_summary, top_products
from platform_shared.lake import enable_object_store
from platform_shared.validation import UnsafeInputError

D = Decimal
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _materialization(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition):
    [event] = result.asset_materializations_for_node(asset.op.name)
    return event


def _report_config(**config: object) -> dg.RunConfig:
    return dg.RunConfig(ops={daily_revenue_report.op.name: ReportConfig(**config)})  # type: ignore[arg-type]


def test_sales_summary_values(resources, fetch):
    assert dg.materialize([sales_summary], resources=resources).success
    assert fetch("SELECT * FROM analytics.sales_summary ORDER BY revenue DESC") == [
        ("US", 2, 5, D("85.00"), D("42.50"), D("0.4595")),
        ("EU", 3, 7, D("60.00"), D("20.00"), D("0.3243")),
        ("APAC", 2, 4, D("40.00"), D("20.00"), D("0.2162")),
    ]


def test_sales_summary_metadata_types_and_export(resources, exports, exported, opened, fetch):
    result = dg.materialize([sales_summary], resources=resources)
    metadata = _materialization(result, sales_summary).metadata
    snapshot = metadata["lake_snapshot_id"]
    assert isinstance(snapshot, dg.IntMetadataValue)
    assert fetch(
        f"SELECT count(*) FROM analytics.sales_summary AT (VERSION => {snapshot.value})"
    ) == [(3,)]

    assert isinstance(metadata["num_records"], dg.IntMetadataValue)
    assert metadata["num_records"].value == 3
    assert isinstance(metadata["total_revenue"], dg.FloatMetadataValue)
    assert metadata["total_revenue"].value == 185.0
    assert isinstance(metadata["preview"], dg.MarkdownMetadataValue)
    assert metadata["preview"].value.splitlines()[0] == (
        "| region | orders | units | revenue | avg_order_value | revenue_share |"
    )
    assert isinstance(metadata["schema"], dg.JsonMetadataValue)
    assert metadata["schema"].value == {
        "region": "string",
        "orders": "int",
        "units": "int",
        "revenue": "decimal",
        "avg_order_value": "decimal",
        "revenue_share": "decimal",
    }
    table = metadata["table_preview"]
    assert isinstance(table, dg.TableMetadataValue)
    schema_json = metadata["schema"].value
    assert isinstance(schema_json, dict)
    assert [c.name for c in table.schema.columns] == list(schema_json)
    assert [r.data["region"] for r in table.records] == ["US", "EU", "APAC"]
    assert isinstance(metadata["dagster/row_count"], dg.IntMetadataValue)
    assert isinstance(metadata["dagster/column_schema"], dg.TableSchemaMetadataValue)

    url = metadata["asset_url"]
    assert isinstance(url, dg.UrlMetadataValue)
    assert url.value == "http://dagster.test:3000/assets/analytics/sales_summary"

    path = metadata["export_path"]
    assert isinstance(path, dg.PathMetadataValue)
    assert path.value == exports.reference("sales_summary.csv")
    link = metadata["export_link"]
    assert isinstance(link, dg.UrlMetadataValue)
    # What a person who follows the link gets is the published file.
    assert list(csv.reader(io.StringIO(opened(link.value).decode()))) == [
        ["region", "orders", "units", "revenue", "avg_order_value", "revenue_share"],
        ["US", "2", "5", "85.00", "42.50", "0.4595"],
        ["EU", "3", "7", "60.00", "20.00", "0.3243"],
        ["APAC", "2", "4", "40.00", "20.00", "0.2162"],
    ]
    # Only the published file is there: nothing staged beside it.
    assert exported() == ["sales_summary.csv"]


def test_sales_of_unknown_customers_keep_the_totals(resources, fetch, warehouse):
    # transformation keeps a line whose customer is missing from the snapshot, without region.
    with warehouse.get_connection() as conn:
        conn.execute(
            """
            INSERT INTO transformation.enriched_sales VALUES (9, 107, 99, 20, 'Gadget',
                'Hardware', NULL, 1, 15.00, 15.00, '2024-03-03 18:00', '2024-03-03')
            """
        )
    result = dg.materialize([sales_summary], resources=resources)
    assert fetch("SELECT * FROM analytics.sales_summary WHERE region IS NULL") == [
        (None, 1, 1, D("15.00"), D("15.00"), D("0.0750"))
    ]
    assert fetch("SELECT sum(revenue_share) FROM analytics.sales_summary") == [(D("1.0000"),)]
    metadata = _materialization(result, sales_summary).metadata
    assert metadata["total_revenue"] == dg.MetadataValue.float(200.0)


def test_rebuild_is_idempotent(resources, fetch, warehouse):
    assets = [sales_summary, top_products, customer_lifetime_value]
    assert dg.materialize(assets, resources=resources).success
    first = [fetch(f"SELECT * FROM analytics.{a.key.path[-1]} ORDER BY ALL") for a in assets]
    assert dg.materialize(assets, resources=resources).success
    assert [
        fetch(f"SELECT * FROM analytics.{a.key.path[-1]} ORDER BY ALL") for a in assets
    ] == first

    # A later load upstream replaces, never adds to, what was published.
    with warehouse.get_connection() as conn:
        conn.execute("DELETE FROM transformation.enriched_sales WHERE region <> 'US'")
    assert dg.materialize([sales_summary], resources=resources).success
    assert fetch("SELECT region, revenue, revenue_share FROM analytics.sales_summary") == [
        ("US", D("85.00"), D("1.0000"))
    ]


def test_top_products_values(resources, fetch):
    assert dg.materialize([top_products], resources=resources).success
    assert fetch("SELECT * FROM analytics.top_products ORDER BY rank") == [
        (1, 20, "Gadget", "Hardware", 2, 3, D("90.00"), D("0.4865")),
        (2, 10, "Widget Pro", "Hardware", 3, 6, D("60.00"), D("0.3243")),
        (3, 30, "Manual", "Books", 3, 7, D("35.00"), D("0.1892")),
    ]


def test_top_products_keeps_ten_best(resources, fetch, warehouse):
    with warehouse.get_connection() as conn:
        conn.execute(
            """
            INSERT INTO transformation.enriched_sales
            SELECT 1000 + i, 1000 + i, 1, 500 + i, 'Bulk ' || i, 'Bulk', 'US', 1,
                   100.00 + i, 100.00 + i, TIMESTAMP '2024-03-04 10:00', DATE '2024-03-04'
            FROM range(12) AS t(i)
            """
        )
    assert dg.materialize([top_products], resources=resources).success
    rows = fetch("SELECT rank, product_id, revenue FROM analytics.top_products ORDER BY rank")
    assert [r[0] for r in rows] == list(range(1, 11))
    assert [r[1] for r in rows] == [511, 510, 509, 508, 507, 506, 505, 504, 503, 502]
    assert rows[0][2] == D("111.00")


def test_customer_lifetime_value_values(resources, fetch):
    result = dg.materialize([customer_lifetime_value], resources=resources)
    assert fetch("SELECT * FROM analytics.customer_lifetime_value ORDER BY customer_id") == [
        (1, "Alice", "US", 2, D("85.00"), dt.date(2024, 3, 1), dt.date(2024, 3, 2), D("42.50")),
        (2, "Bob", "EU", 2, D("50.00"), dt.date(2024, 3, 1), dt.date(2024, 3, 3), D("25.00")),
        (3, "Chen", "APAC", 2, D("40.00"), dt.date(2024, 3, 2), dt.date(2024, 3, 3), D("20.00")),
        (4, "Dana", "US", 0, D("0.00"), None, None, None),
        (5, None, "EU", 1, D("10.00"), dt.date(2024, 3, 3), dt.date(2024, 3, 3), D("10.00")),
    ]
    metadata = _materialization(result, customer_lifetime_value).metadata
    assert metadata["customers_with_purchases"] == dg.MetadataValue.int(4)
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(5)


def test_daily_revenue_report_default_window(resources, fetch, exports, opened):
    result = dg.materialize([daily_revenue_report], resources=resources)
    # Default: 30 days ending at the latest loaded date, so every seeded day.
    assert fetch("SELECT * FROM analytics.daily_revenue_report ORDER BY date, region") == [
        (dt.date(2024, 3, 1), "EU", 1, 1, D("30.00"), D("0.5455")),
        (dt.date(2024, 3, 1), "US", 1, 3, D("25.00"), D("0.4545")),
        (dt.date(2024, 3, 2), "APAC", 1, 3, D("30.00"), D("0.3333")),
        (dt.date(2024, 3, 2), "US", 1, 2, D("60.00"), D("0.6667")),
        (dt.date(2024, 3, 3), "APAC", 1, 1, D("10.00"), D("0.2500")),
        (dt.date(2024, 3, 3), "EU", 2, 6, D("30.00"), D("0.7500")),
    ]
    metadata = _materialization(result, daily_revenue_report).metadata
    assert metadata["window_start"] == dg.MetadataValue.text("2024-02-03")
    assert metadata["window_end"] == dg.MetadataValue.text("2024-03-03")
    assert metadata["lookback_days"] == dg.MetadataValue.int(30)
    assert metadata["days_with_data"] == dg.MetadataValue.int(3)
    assert metadata["total_revenue"] == dg.MetadataValue.float(185.0)
    assert metadata["asset_url"] == dg.MetadataValue.url(
        "http://dagster.test:3000/assets/analytics/daily_revenue_report"
    )

    assert metadata["chart_path"].value == exports.reference(
        "daily_revenue_report_2024-03-03_30d.png"
    )
    png = opened(str(metadata["chart_link"].value))
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        assert image.format == "PNG"
        assert image.size == (900, 450)

    chart = metadata["chart"]
    assert isinstance(chart, dg.MarkdownMetadataValue)
    prefix = "![Daily revenue by region](data:image/png;base64,"
    assert chart.value.startswith(prefix)
    assert chart.value.endswith(")")
    assert base64.b64decode(chart.value[len(prefix) : -1]) == png

    export_path = str(metadata["export_path"].value)
    assert export_path == exports.reference("daily_revenue_report_2024-03-03_30d.parquet")
    with duckdb.connect() as conn:
        enable_object_store(conn)
        exported = conn.execute(
            "SELECT date, region, revenue FROM read_parquet(?)", [export_path]
        ).fetchall()
    assert exported == [
        (dt.date(2024, 3, 1), "EU", D("30.00")),
        (dt.date(2024, 3, 1), "US", D("25.00")),
        (dt.date(2024, 3, 2), "APAC", D("30.00")),
        (dt.date(2024, 3, 2), "US", D("60.00")),
        (dt.date(2024, 3, 3), "APAC", D("10.00")),
        (dt.date(2024, 3, 3), "EU", D("30.00")),
    ]


def test_daily_revenue_report_configured_window(resources, fetch, exported):
    result = dg.materialize(
        [daily_revenue_report],
        resources=resources,
        run_config=_report_config(report_date="2024-03-02", lookback_days=2),
    )
    assert fetch(
        "SELECT date, region, revenue FROM analytics.daily_revenue_report ORDER BY ALL"
    ) == [
        (dt.date(2024, 3, 1), "EU", D("30.00")),
        (dt.date(2024, 3, 1), "US", D("25.00")),
        (dt.date(2024, 3, 2), "APAC", D("30.00")),
        (dt.date(2024, 3, 2), "US", D("60.00")),
    ]
    metadata = _materialization(result, daily_revenue_report).metadata
    assert metadata["window_start"] == dg.MetadataValue.text("2024-03-01")
    assert metadata["total_revenue"] == dg.MetadataValue.float(145.0)
    assert exported() == [
        "daily_revenue_report_2024-03-02_2d.parquet",
        "daily_revenue_report_2024-03-02_2d.png",
    ]


def test_daily_revenue_report_window_without_sales(resources, fetch, exports):
    result = dg.materialize(
        [daily_revenue_report],
        resources=resources,
        run_config=_report_config(report_date="2023-12-31", lookback_days=7),
    )
    assert result.success
    assert fetch("SELECT count(*) FROM analytics.daily_revenue_report") == [(0,)]
    metadata = _materialization(result, daily_revenue_report).metadata
    assert metadata["days_with_data"] == dg.MetadataValue.int(0)
    with exports.open("daily_revenue_report_2023-12-31_7d.png") as chart:
        assert chart.read().startswith(PNG_SIGNATURE)


def test_daily_revenue_report_fails_on_empty_source(resources, warehouse):
    with warehouse.get_connection() as conn:
        conn.execute("DELETE FROM transformation.regional_daily_sales")
    result = dg.materialize([daily_revenue_report], resources=resources, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "no day to report on" in str(failure.step_failure_data.user_failure_data)


@pytest.mark.parametrize(
    "report_date", ["2024-02-30", "2024/03/01", "20240301", "2024-03-01'; DROP TABLE x; --", ""]
)
def test_report_config_rejects_bad_dates(report_date: str):
    with pytest.raises(ValueError, match="report_date") as raised:
        ReportConfig(report_date=report_date)
    assert isinstance(raised.value.errors()[0]["ctx"]["error"], UnsafeInputError)  # type: ignore[attr-defined]


@pytest.mark.parametrize("lookback_days", [0, -1, 367])
def test_report_config_rejects_bad_lookback(lookback_days: int):
    with pytest.raises(ValueError, match="lookback_days"):
        ReportConfig(lookback_days=lookback_days)


def test_bad_report_date_fails_before_touching_the_warehouse(resources, fetch, exported):
    result = dg.materialize(
        [daily_revenue_report],
        resources=resources,
        run_config={"ops": {daily_revenue_report.op.name: {"config": {"report_date": "03/01"}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert fetch(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'"
    ) == [(0,)]
    assert exported() == []


def test_report_window():
    assert ReportConfig().window(dt.date(2024, 3, 3)) == (dt.date(2024, 2, 3), dt.date(2024, 3, 3))
    assert ReportConfig(report_date="2024-03-01", lookback_days=1).window(None) == (
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 1),
    )
    assert ReportConfig().window(None) is None
