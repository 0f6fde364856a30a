"""The blocking checks of enriched_sales against deliberately broken inputs."""

import dagster as dg

from platform_shared.cross_location import range_tags
from transformation.keys import DAILY_SALES, ENRICHED_SALES

ALL_DAYS = range_tags(dg.PartitionKeyRange("2025-01-01", "2025-01-03"))


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _failing(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Failing row count of every check of the run."""
    return {
        name: evaluation.metadata["failing_count"].value  # type: ignore[union-attr]
        for name, evaluation in _evaluations(result).items()
    }


def _materialized_keys(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events() if e.asset_key}


def test_clean_input_passes_every_check(seeded, run_job) -> None:
    result = run_job("sales_models_job", tags=ALL_DAYS)

    assert result.success
    assert _failing(result) == {
        "known_products_and_customers": 0,
        "unique_sale_id": 0,
        "revenue_not_negative": 0,
        "reconciles_with_ingestion": 0,
    }
    evaluation = _evaluations(result)["unique_sale_id"]
    assert evaluation.blocking is True
    assert evaluation.metadata["checked_dates"].value == "2025-01-01..2025-01-03"
    assert "failing_sample" not in evaluation.metadata


def test_unknown_product_and_customer_block_downstream(seeded, sql, run_job) -> None:
    sql("""
        INSERT INTO ingestion.sales VALUES
            (9,  106,  2, 99, 1, 5.00, '2025-01-02 13:00:00', '2025-01-02'),
            (10, 107, 42, 10, 1, 2.50, '2025-01-02 14:00:00', '2025-01-02')
    """)

    result = run_job("sales_models_job", partition_key="2025-01-02")

    assert not result.success
    assert _failing(result) == {
        "known_products_and_customers": 2,
        "unique_sale_id": 0,
        "revenue_not_negative": 0,
        "reconciles_with_ingestion": 0,
    }
    sample = _evaluations(result)["known_products_and_customers"].metadata["failing_sample"]
    assert "| 9 | 2025-01-02 | 99 | 2 | True | False |" in str(sample.value)
    assert "| 10 | 2025-01-02 | 10 | 42 | False | True |" in str(sample.value)
    # The lines were written (and kept visible, without attributes); daily_sales was not run.
    assert _materialized_keys(result) == {ENRICHED_SALES}
    assert sql(
        "SELECT sale_id, product_name, region FROM transformation.enriched_sales"
        " WHERE sale_id IN (9, 10) ORDER BY sale_id"
    ) == [(9, None, "EU"), (10, "Widget", None)]
    assert sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'daily_sales'"
    ) == [(0,)]


def test_duplicate_sale_id_across_days(seeded, add_sale, run_job) -> None:
    add_sale(4, 106, 2, 11, 1, "10.00", "2025-01-03")

    result = run_job("sales_models_job", tags=ALL_DAYS)

    assert not result.success
    assert _failing(result)["unique_sale_id"] == 1
    sample = _evaluations(result)["unique_sale_id"].metadata["failing_sample"]
    assert "| 4 | 2 | 2025-01-02 | 2025-01-03 |" in str(sample.value)
    assert DAILY_SALES not in _materialized_keys(result)


def test_negative_revenue(seeded, add_sale, run_job) -> None:
    add_sale(9, 106, 2, 10, -2, "2.50", "2025-01-01")

    result = run_job("sales_models_job", partition_key="2025-01-01")

    assert not result.success
    assert _failing(result) == {
        "known_products_and_customers": 0,
        "unique_sale_id": 0,
        "revenue_not_negative": 1,
        "reconciles_with_ingestion": 0,
    }
    sample = _evaluations(result)["revenue_not_negative"].metadata["failing_sample"]
    assert "| 9 | 2025-01-01 | -2 | 2.50 | -5.00 |" in str(sample.value)


def test_repeated_product_key_fails_reconciliation(seeded, sql, run_job) -> None:
    # A snapshot with product 10 twice fans the join out: every line of product 10 doubles.
    sql("INSERT INTO ingestion.products VALUES (10, 'Widget v2', 'Tools', 2.75)")

    result = run_job("sales_models_job", tags=ALL_DAYS)

    assert not result.success
    failing = _failing(result)
    assert failing["reconciles_with_ingestion"] == 3  # every day has a product-10 line
    assert failing["unique_sale_id"] == 4  # sale lines 1, 3, 5 and 7
    sample = _evaluations(result)["reconciles_with_ingestion"].metadata["failing_sample"]
    assert "| 2025-01-01 | 3 | 5 | 25.00 | 40.00 |" in str(sample.value)


def test_checks_cover_only_the_days_of_the_run(seeded, add_sale, run_job) -> None:
    add_sale(9, 106, 2, 99, 1, "5.00", "2025-01-03")

    result = run_job(
        "sales_models_job", tags=range_tags(dg.PartitionKeyRange("2025-01-01", "2025-01-02"))
    )

    assert result.success
    assert set(_failing(result).values()) == {0}
