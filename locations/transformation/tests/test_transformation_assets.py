"""Every asset against the known input of conftest: exact rows, ranges, reruns, metadata."""

import datetime as dt
from decimal import Decimal

import dagster as dg

from platform_shared.cross_location import range_tags
from transformation.keys import (
    CUSTOMER_EMAILS,
    CUSTOMER_ORDERS,
    DAILY_SALES,
    ENRICHED_SALES,
    REGIONAL_DAILY_SALES,
)

D1, D2, D3 = dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)


def _days(first: str, last: str) -> dict[str, str]:
    return range_tags(dg.PartitionKeyRange(first, last))


def _materialized(result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    return sorted(
        (event.asset_key.to_user_string(), event.partition or "")
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    )


def test_customer_models(seeded, sql, run_job, instance) -> None:
    result = run_job("customer_models_job")
    assert result.success

    assert sql("SELECT * FROM transformation.customer_emails ORDER BY customer_id") == [
        (1, "ann.lee@example.com", "example.com"),
        (2, "bob@shop.eu", "shop.eu"),
        (3, "chen@mail.example.cn", "mail.example.cn"),
        (4, "dee@example.com", "example.com"),
    ]
    assert sql(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'transformation' AND table_name = 'customer_emails'"
        " ORDER BY ordinal_position"
    ) == [("customer_id", "BIGINT"), ("email", "VARCHAR"), ("email_domain", "VARCHAR")]
    assert sql("SELECT * FROM transformation.customer_orders ORDER BY customer_id") == [
        (1, "Ann Lee", "US", 2, dt.datetime(2025, 1, 1, 9), dt.datetime(2025, 1, 3, 10, 15)),
        (2, "Bob Brun", "EU", 2, dt.datetime(2025, 1, 1, 12), dt.datetime(2025, 1, 2, 8, 30)),
        (3, "Chen Wei", "APAC", 2, dt.datetime(2025, 1, 2, 17, 45), dt.datetime(2025, 1, 3, 11)),
        (4, "Dee Diaz", "US", 0, None, None),
        (5, "Eve Noel", "EU", 0, None, None),
    ]

    emails = instance.get_latest_materialization_event(CUSTOMER_EMAILS)
    assert emails is not None
    assert emails.asset_materialization is not None
    metadata = emails.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 4
    assert metadata["excluded_customers"].value == 1
    assert metadata["domains"].value == 3
    assert metadata["dagster/table_name"].value == "transformation.customer_emails"

    orders = instance.get_latest_materialization_event(CUSTOMER_ORDERS)
    assert orders is not None
    assert orders.asset_materialization is not None
    assert orders.asset_materialization.metadata["dagster/row_count"].value == 5
    assert orders.asset_materialization.metadata["customers_without_orders"].value == 2


def test_customer_models_replace_the_previous_snapshot(seeded, sql, run_job) -> None:
    assert run_job("customer_models_job").success
    sql("DELETE FROM ingestion.customers WHERE customer_id IN (3, 4, 5)")
    sql("UPDATE ingestion.customers SET email = 'ann@new.example' WHERE customer_id = 1")

    assert run_job("customer_models_job").success

    assert sql("SELECT * FROM transformation.customer_emails ORDER BY customer_id") == [
        (1, "ann@new.example", "new.example"),
        (2, "bob@shop.eu", "shop.eu"),
    ]
    assert sql(
        "SELECT customer_id, order_count FROM transformation.customer_orders ORDER BY 1"
    ) == [(1, 2), (2, 2)]


def test_a_range_of_days_is_one_run(seeded, sql, run_job, instance) -> None:
    result = run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-03"))

    assert result.success
    assert len(instance.get_run_records()) == 1
    assert _materialized(result) == [
        ("transformation/daily_sales", "2025-01-01"),
        ("transformation/daily_sales", "2025-01-02"),
        ("transformation/daily_sales", "2025-01-03"),
        ("transformation/enriched_sales", "2025-01-01"),
        ("transformation/enriched_sales", "2025-01-02"),
        ("transformation/enriched_sales", "2025-01-03"),
    ]
    assert sql("SELECT * FROM transformation.enriched_sales ORDER BY sale_id") == [
        (1, 100, 1, 10, "Widget", "Tools", "US", 2, Decimal("2.50"), Decimal("5.00"),
         dt.datetime(2025, 1, 1, 9), D1),
        (2, 100, 1, 11, "Gadget", "Toys", "US", 1, Decimal("10.00"), Decimal("10.00"),
         dt.datetime(2025, 1, 1, 9), D1),
        (3, 101, 2, 10, "Widget", "Tools", "EU", 4, Decimal("2.50"), Decimal("10.00"),
         dt.datetime(2025, 1, 1, 12), D1),
        (4, 102, 2, 11, "Gadget", "Toys", "EU", 3, Decimal("10.00"), Decimal("30.00"),
         dt.datetime(2025, 1, 2, 8, 30), D2),
        (5, 103, 3, 10, "Widget", "Tools", "APAC", 1, Decimal("2.40"), Decimal("2.40"),
         dt.datetime(2025, 1, 2, 17, 45), D2),
        (6, 104, 1, 11, "Gadget", "Toys", "US", 2, Decimal("9.99"), Decimal("19.98"),
         dt.datetime(2025, 1, 3, 10, 15), D3),
        (7, 104, 1, 10, "Widget", "Tools", "US", 1, Decimal("2.50"), Decimal("2.50"),
         dt.datetime(2025, 1, 3, 10, 15), D3),
        (8, 105, 3, 11, "Gadget", "Toys", "APAC", 1, Decimal("10.00"), Decimal("10.00"),
         dt.datetime(2025, 1, 3, 11), D3),
    ]  # fmt: skip
    assert sql("SELECT * FROM transformation.daily_sales ORDER BY date") == [
        (D1, 2, 7, Decimal("25.00")),
        (D2, 2, 4, Decimal("32.40")),
        (D3, 2, 4, Decimal("32.48")),
    ]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "known_products_and_customers": True,
        "unique_sale_id": True,
        "revenue_not_negative": True,
        "reconciles_with_ingestion": True,
    }


def test_range_metadata(seeded, run_job, instance) -> None:
    assert run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-03")).success

    event = instance.get_latest_materialization_event(ENRICHED_SALES)
    assert event is not None
    assert event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 8
    assert metadata["revenue"].value == 89.88
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns] == [
        "sale_id", "order_id", "customer_id", "product_id", "product_name", "category",
        "region", "quantity", "unit_price", "revenue", "sale_ts", "sale_date",
    ]  # fmt: skip
    assert metadata["schema"].value["revenue"] == "decimal"
    assert isinstance(metadata["preview"], dg.MarkdownMetadataValue)
    # Copied onto each of the range's events: the table-typed preview is left out.
    assert "table_preview" not in metadata

    daily = instance.get_latest_materialization_event(DAILY_SALES)
    assert daily is not None
    assert daily.asset_materialization is not None
    assert daily.asset_materialization.metadata["dagster/row_count"].value == 3
    assert daily.asset_materialization.metadata["revenue"].value == 89.88

    # A run of one day has it, and it describes that partition.
    assert run_job("sales_models_job", partition_key="2025-01-02").success
    single = instance.get_latest_materialization_event(ENRICHED_SALES)
    assert single is not None
    assert single.asset_materialization is not None
    preview = single.asset_materialization.metadata["table_preview"]
    assert isinstance(preview, dg.TableMetadataValue)
    assert [r.data["sale_date"] for r in preview.records] == ["2025-01-02"] * 2


def test_one_partition_touches_only_its_day(seeded, sql, run_job) -> None:
    assert run_job("sales_models_job", partition_key="2025-01-02").success

    assert sql("SELECT DISTINCT sale_date FROM transformation.enriched_sales") == [(D2,)]
    assert sql("SELECT * FROM transformation.daily_sales") == [(D2, 2, 4, Decimal("32.40"))]


def test_reruns_and_corrections_replace_rows(seeded, sql, run_job) -> None:
    assert run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-03")).success
    # A corrected file for 2025-01-02 was loaded upstream: one line fewer, one repriced.
    sql("DELETE FROM ingestion.sales WHERE sale_id = 5")
    sql("UPDATE ingestion.sales SET quantity = 1 WHERE sale_id = 4")

    assert run_job("sales_models_job", partition_key="2025-01-02").success
    # The same range again changes nothing: replaced, not appended.
    assert run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-01")).success

    lines_per_day = "SELECT sale_date, count(*) FROM transformation.enriched_sales GROUP BY 1"
    assert sql(f"{lines_per_day} ORDER BY 1") == [
        (D1, 3),
        (D2, 1),
        (D3, 3),
    ]  # fmt: skip
    assert sql("SELECT * FROM transformation.daily_sales ORDER BY date") == [
        (D1, 2, 7, Decimal("25.00")),
        (D2, 1, 1, Decimal("10.00")),
        (D3, 2, 4, Decimal("32.48")),
    ]


def test_regional_daily_sales_over_a_block_of_days(seeded, sql, run_job, instance) -> None:
    assert run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-03")).success

    result = run_job(
        "regional_sales_job",
        tags=range_tags(dg.PartitionKeyRange("2025-01-01|US", "2025-01-03|APAC")),
    )

    assert result.success
    assert len(_materialized(result)) == 9
    assert sql("SELECT * FROM transformation.regional_daily_sales ORDER BY date, region") == [
        (D1, "EU", 1, 4, Decimal("10.00")),
        (D1, "US", 1, 3, Decimal("15.00")),
        (D2, "APAC", 1, 1, Decimal("2.40")),
        (D2, "EU", 1, 3, Decimal("30.00")),
        (D3, "APAC", 1, 1, Decimal("10.00")),
        (D3, "US", 1, 3, Decimal("22.48")),
    ]
    event = instance.get_latest_materialization_event(REGIONAL_DAILY_SALES)
    assert event is not None
    assert event.asset_materialization is not None
    assert event.asset_materialization.metadata["dagster/row_count"].value == 6
    assert event.asset_materialization.metadata["regions"].value == ["US", "EU", "APAC"]


def test_regional_single_key_and_sub_block(seeded, sql, run_job, instance) -> None:
    assert run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-03")).success

    single = run_job("regional_sales_job", partition_key="2025-01-02|EU")
    assert single.success
    assert sql("SELECT * FROM transformation.regional_daily_sales") == [
        (D2, "EU", 1, 3, Decimal("30.00"))
    ]
    (one,) = single.asset_materializations_for_node("transformation__regional_daily_sales")
    assert isinstance(one.metadata["table_preview"], dg.TableMetadataValue)

    # Days 2-3 x regions EU..APAC: four keys, of which two have sales.
    block = run_job(
        "regional_sales_job",
        tags=range_tags(dg.PartitionKeyRange("2025-01-02|EU", "2025-01-03|APAC")),
    )
    assert block.success
    assert [key for _, key in _materialized(block)] == [
        "2025-01-02|APAC",
        "2025-01-02|EU",
        "2025-01-03|APAC",
        "2025-01-03|EU",
    ]
    assert sql("SELECT * FROM transformation.regional_daily_sales ORDER BY date, region") == [
        (D2, "APAC", 1, 1, Decimal("2.40")),
        (D2, "EU", 1, 3, Decimal("30.00")),
        (D3, "APAC", 1, 1, Decimal("10.00")),
    ]
    event = instance.get_latest_materialization_event(REGIONAL_DAILY_SALES)
    assert event is not None
    assert event.asset_materialization is not None
    assert event.asset_materialization.metadata["regions"].value == ["EU", "APAC"]
    assert "table_preview" not in event.asset_materialization.metadata


def test_regional_rebuild_keeps_other_regions(seeded, sql, run_job) -> None:
    assert run_job("sales_models_job", tags=_days("2025-01-01", "2025-01-03")).success
    tags = range_tags(dg.PartitionKeyRange("2025-01-01|US", "2025-01-03|APAC"))
    assert run_job("regional_sales_job", tags=tags).success
    sql("UPDATE transformation.enriched_sales SET quantity = 5, revenue = 50 WHERE sale_id = 3")

    assert run_job("regional_sales_job", partition_key="2025-01-01|EU").success

    assert sql(
        "SELECT region, units, revenue FROM transformation.regional_daily_sales"
        " WHERE date = '2025-01-01' ORDER BY region"
    ) == [("EU", 5, Decimal("50.00")), ("US", 3, Decimal("15.00"))]
    assert sql("SELECT count(*) FROM transformation.regional_daily_sales") == [(6,)]
