"""Sensor requests executed as the daemon would launch them: ingestion's loads flow through
sales models into regional sales, and a failed check stops the flow."""

from decimal import Decimal

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorExecutionData

from transformation.definitions import defs
from transformation.external import CUSTOMERS, PRODUCTS, SALES
from transformation.sensors import (
    customer_snapshot_sensor,
    regional_sales_sensor,
    sales_models_sensor,
)

DAYS = ("2025-01-01", "2025-01-02", "2025-01-03")


def _tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None
) -> SensorExecutionData:
    return sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    )


def _launch(instance: dg.DagsterInstance, data: SensorExecutionData) -> list[bool]:
    """Execute every request of a tick in-process; the success of each run."""
    outcomes = []
    for request in data.run_requests or []:
        assert request.job_name is not None
        result = defs.resolve_job_def(request.job_name).execute_in_process(
            instance=instance,
            tags=request.tags,
            asset_selection=request.asset_selection,
            raise_on_error=False,
        )
        outcomes.append(result.success)
    return outcomes


def _ingestion_loaded(instance: dg.DagsterInstance) -> None:
    for key in (CUSTOMERS, PRODUCTS):
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    for day in DAYS:
        instance.report_runless_asset_event(dg.AssetMaterialization(SALES, partition=day))


def test_loads_flow_to_regional_sales(seeded, sql, instance) -> None:
    _ingestion_loaded(instance)

    assert _launch(instance, _tick(sales_models_sensor, instance)) == [True]
    regional = _tick(regional_sales_sensor, instance)
    assert _launch(instance, regional) == [True]
    assert _launch(instance, _tick(customer_snapshot_sensor, instance)) == [True]

    assert sql("SELECT count(*), sum(revenue) FROM transformation.daily_sales") == [
        (3, Decimal("89.88"))
    ]
    assert sql(
        "SELECT region, sum(orders), sum(units), sum(revenue)"
        " FROM transformation.regional_daily_sales GROUP BY region ORDER BY region"
    ) == [
        ("APAC", 2, 2, Decimal("12.40")),
        ("EU", 2, 7, Decimal("40.00")),
        ("US", 2, 6, Decimal("37.48")),
    ]
    assert sql("SELECT count(*) FROM transformation.customer_emails") == [(4,)]
    # The regional runs' own materializations are not a reason to run again.
    assert _tick(regional_sales_sensor, instance, regional.cursor).run_requests == []


def test_a_failed_check_stops_the_flow(seeded, sql, add_sale, instance) -> None:
    add_sale(9, 106, 2, 99, 1, "5.00", "2025-01-02")
    _ingestion_loaded(instance)

    assert _launch(instance, _tick(sales_models_sensor, instance)) == [False]
    regional = _tick(regional_sales_sensor, instance)

    assert regional.run_requests == []
    assert regional.skip_message == "No new usable enriched_sales partitions"
    assert sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'regional_daily_sales'"
    ) == [(0,)]
