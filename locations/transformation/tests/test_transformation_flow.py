"""Sensor requests executed as the daemon would launch them: ingestion's loads flow through
sales models into regional sales, and a failed check stops the flow."""

from decimal import Decimal

import dagster as dg
from dagster import DagsterRun, DagsterRunStatus
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.utils import make_new_run_id

import transformation.defs.sales.batch as batch_module
from platform_shared.cross_location import range_tags
from transformation.definitions import defs
from transformation.defs.sales.batch import SALES_BATCH_TAG
from transformation.defs.sensors.customers import customer_snapshot_sensor
from transformation.defs.sensors.sales import regional_sales_sensor, sales_models_sensor
from transformation.keys import CUSTOMERS, PRODUCTS, REGIONAL_DAILY_SALES, SALES

DAYS = ("2025-01-01", "2025-01-02", "2025-01-03")


def _tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None
) -> SensorExecutionData:
    return sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    )


def _launch(instance: dg.DagsterInstance, data: SensorExecutionData) -> list[bool]:
    """Execute every request of a tick in-process, in order (as the queue starts them);
    the success of each run."""
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

    # The sales models run, then the regional run requested with it for the same days.
    assert _launch(instance, _tick(sales_models_sensor, instance)) == [True, True]
    # The regional sensor leaves rebuilds whose regional run was requested with them.
    regional = _tick(regional_sales_sensor, instance)
    assert regional.run_requests == []
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

    # The regional run sees its sales models run fail and writes nothing.
    assert _launch(instance, _tick(sales_models_sensor, instance)) == [False, True]
    assert instance.get_latest_materialization_event(REGIONAL_DAILY_SALES) is None
    regional = _tick(regional_sales_sensor, instance)

    assert regional.run_requests == []
    assert regional.skip_message == "No new usable enriched_sales partitions"
    assert sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'regional_daily_sales'"
    ) == [(0,)]


def _regional_run(instance: dg.DagsterInstance, batch: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("regional_sales_job").execute_in_process(
        instance=instance,
        tags={
            **range_tags(dg.PartitionKeyRange("2025-01-01|US", "2025-01-01|APAC")),
            SALES_BATCH_TAG: batch,
        },
        raise_on_error=False,
    )


def test_a_regional_run_without_its_sales_models_run_fails(seeded, instance) -> None:
    result = _regional_run(instance, "sales_models:nothing:1")

    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "No sales_models_job run carries transformation/sales_batch" in str(
        failure.step_failure_data.error
    )


def test_a_regional_run_gives_up_on_a_sales_models_run_that_never_ends(
    seeded, instance, monkeypatch
) -> None:
    instance.add_run(
        DagsterRun(
            job_name="sales_models_job",
            run_id=make_new_run_id(),
            status=DagsterRunStatus.STARTED,
            tags={SALES_BATCH_TAG: "sales_models:stuck:1"},
        )
    )
    monkeypatch.setattr(batch_module, "SIBLING_TIMEOUT_SECONDS", 0)

    result = _regional_run(instance, "sales_models:stuck:1")

    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "unfinished after 0 s" in str(failure.step_failure_data.error)
    assert instance.get_latest_materialization_event(REGIONAL_DAILY_SALES) is None
