"""Sensors against an ephemeral instance holding ingestion's materializations.

Upstream loads are reported as runless events, or produced by a tiny run of a stand-in
asset with the upstream key when a test needs a run (a failed blocking check, a run
still in progress). Every test asserts the exact run requests.
"""

import datetime as dt

import dagster as dg
import pytest
from dagster import DagsterEvent, DagsterEventType, DagsterRun, DagsterRunStatus
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.events import AssetMaterializationPlannedData, StepMaterializationData
from dagster._core.utils import make_new_run_id

import transformation.defs.sensors.sales as sensors_module
from platform_shared.cross_location import range_tags, run_key
from platform_shared.dagster_private import PARENT_RUN_ID_TAG, SENSOR_NAME_TAG
from platform_shared.partitions import daily_partitions
from transformation.definitions import defs
from transformation.defs.sales.batch import SALES_BATCH_TAG
from transformation.defs.sensors.customers import customer_snapshot_sensor, order_history_sensor
from transformation.defs.sensors.sales import (
    RANGES_PER_TICK,
    regional_sales_sensor,
    sales_models_sensor,
)
from transformation.keys import (
    CUSTOMER_EMAILS,
    CUSTOMER_ORDERS,
    CUSTOMERS,
    ENRICHED_SALES,
    ORDERS,
    PRODUCTS,
    SALES,
)


def _report(instance: dg.DagsterInstance, key: dg.AssetKey, *partitions: str) -> None:
    for partition in partitions or [None]:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


def _tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None
) -> SensorExecutionData:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


def _records(instance: dg.DagsterInstance, key: dg.AssetKey, first: str, last: str):
    """The materializations of ``key`` for partitions in [first, last]."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key), limit=10_000, ascending=True
    ).records
    return [r for r in records if r.partition_key and first <= r.partition_key <= last]


def _days(first: dt.date, count: int) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(count)]


def _day(offset: int) -> str:
    """The day ``offset`` days after 2024-01-01."""
    return (dt.date(2024, 1, 1) + dt.timedelta(days=offset)).isoformat()


def _keys(data: SensorExecutionData) -> list[str | None]:
    return [r.run_key for r in data.run_requests or []]


def _ranges(data: SensorExecutionData, job: str = "sales_models_job") -> list[tuple[str, str]]:
    """The ranges of the tick's requests of ``job``."""
    return [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in data.run_requests or []
        if r.job_name == job
    ]


def _stand_in(key: dg.AssetKey, *, partitioned: bool, check_passes: bool) -> dg.AssetsDefinition:
    """An asset with an upstream key and a blocking check, to produce real upstream runs."""

    @dg.asset(
        key=key,
        partitions_def=daily_partitions if partitioned else None,
        check_specs=[dg.AssetCheckSpec("reject_rate_within_threshold", asset=key, blocking=True)],
    )
    def stand_in():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=check_passes)

    return stand_in


def _load_with_failed_check(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> None:
    result = dg.materialize(
        [_stand_in(key, partitioned=partition is not None, check_passes=False)],
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
    )
    assert not result.success
    assert len(result.get_asset_materialization_events()) == 1


@pytest.fixture
def snapshots_loaded(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    _report(instance, CUSTOMERS)
    _report(instance, PRODUCTS)
    return instance


# --- sales_models_sensor -------------------------------------------------------------


def test_sales_wait_for_a_first_load_of_both_snapshots(instance) -> None:
    _report(instance, SALES, "2025-01-01")

    first = _tick(sales_models_sensor, instance)
    assert first.run_requests == []
    assert first.skip_message == (
        "Waiting for a first load of ingestion/customers, ingestion/products"
    )
    assert first.cursor is None

    _report(instance, CUSTOMERS)
    assert _tick(sales_models_sensor, instance).skip_message == (
        "Waiting for a first load of ingestion/products"
    )

    _report(instance, PRODUCTS)
    assert _ranges(_tick(sales_models_sensor, instance)) == [("2025-01-01", "2025-01-01")]


def test_new_days_become_one_range_run(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _report(instance, SALES, "2025-01-02", "2025-01-01", "2025-01-03")

    data = _tick(sales_models_sensor, instance)

    key = run_key(
        "sales_models",
        _records(instance, SALES, "2025-01-01", "2025-01-03"),
        "2025-01-01",
        "2025-01-03",
    )
    sensor = {SENSOR_NAME_TAG: "sales_models_sensor"}
    assert data.run_requests == [
        dg.RunRequest(
            run_key=key,
            job_name="sales_models_job",
            tags={
                **range_tags(dg.PartitionKeyRange("2025-01-01", "2025-01-03")),
                SALES_BATCH_TAG: key,
                **sensor,
            },
        ),
        # The regional rebuild of the same days, every region, in the same batch.
        dg.RunRequest(
            run_key=key.replace("sales_models:", "regional_sales:", 1),
            job_name="regional_sales_job",
            tags={
                **range_tags(dg.PartitionKeyRange("2025-01-01|US", "2025-01-03|APAC")),
                SALES_BATCH_TAG: key,
                **sensor,
            },
        ),
    ]
    # Evaluating the same tick again asks for the same run key: the daemon launches once.
    assert _tick(sales_models_sensor, instance).run_requests == data.run_requests
    # The next tick, from the stored cursor, has nothing new.
    again = _tick(sales_models_sensor, instance, data.cursor)
    assert again.run_requests == []
    assert again.skip_message == "No new usable sales partitions"
    assert again.cursor == data.cursor


def test_a_reloaded_day_is_requested_again(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _report(instance, SALES, "2025-01-01", "2025-01-02")
    first = _tick(sales_models_sensor, instance)

    _report(instance, SALES, "2025-01-02")  # a corrected file
    second = _tick(sales_models_sensor, instance, first.cursor)

    assert _ranges(second) == [("2025-01-02", "2025-01-02")]
    assert _keys(second) != _keys(first)


def test_a_year_of_backfill_is_one_run(snapshots_loaded) -> None:
    instance = snapshots_loaded
    days = _days(dt.date(2024, 1, 1), 365)
    _report(instance, SALES, *days)

    data = _tick(sales_models_sensor, instance)

    assert _ranges(data) == [("2024-01-01", "2024-12-30")]
    assert [r.job_name for r in data.run_requests or []] == [
        "sales_models_job",
        "regional_sales_job",
    ]


def test_scattered_days_are_bounded_to_a_few_ranges(snapshots_loaded) -> None:
    instance = snapshots_loaded
    # Seven separate spans; the smallest gaps are bridged until four remain.
    spans = [(0, 2), (5, 6), (20, 21), (23, 23), (40, 44), (100, 100), (102, 103)]
    _report(instance, SALES, *[_day(i) for a, b in spans for i in range(a, b + 1)])

    data = _tick(sales_models_sensor, instance)

    assert RANGES_PER_TICK == 4
    assert _ranges(data) == [
        (_day(0), _day(6)),
        (_day(20), _day(23)),
        (_day(40), _day(44)),
        (_day(100), _day(103)),
    ]
    assert len({r.run_key for r in data.run_requests or []}) == 8  # 4 sales, 4 regional


def test_a_day_that_failed_its_blocking_check_is_not_rebuilt(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _report(instance, SALES, "2025-01-01")
    _load_with_failed_check(instance, SALES, "2025-01-02")
    _report(instance, SALES, "2025-01-03")

    data = _tick(sales_models_sensor, instance)

    assert _ranges(data) == [("2025-01-01", "2025-01-01"), ("2025-01-03", "2025-01-03")]


def test_only_blocked_days_request_nothing_and_move_on(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _load_with_failed_check(instance, SALES, "2025-01-02")

    data = _tick(sales_models_sensor, instance)

    assert data.run_requests == []
    assert data.cursor is not None
    assert _tick(sales_models_sensor, instance, data.cursor).run_requests == []


def test_bridging_never_reaches_into_a_blocked_day(snapshots_loaded) -> None:
    instance = snapshots_loaded
    # Five spans: bridging the first gap would rebuild day 3, whose load failed its check.
    _report(instance, SALES, _day(0), _day(1), _day(2))
    _load_with_failed_check(instance, SALES, _day(3))
    _report(instance, SALES, _day(4), _day(10), _day(20), _day(30))

    data = _tick(sales_models_sensor, instance)

    assert _ranges(data) == [
        (_day(0), _day(2)),
        (_day(4), _day(4)),
        (_day(10), _day(10)),
        (_day(20), _day(20)),
        (_day(30), _day(30)),
    ]


def test_a_good_reload_after_a_blocked_one_is_rebuilt(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _load_with_failed_check(instance, SALES, "2025-01-02")
    _report(instance, SALES, "2025-01-02")  # the corrected file loads cleanly

    assert _ranges(_tick(sales_models_sensor, instance)) == [("2025-01-02", "2025-01-02")]


def _materialize_in(
    instance: dg.DagsterInstance, run: DagsterRun, key: dg.AssetKey, partition: str
) -> None:
    """A materialization of ``partition`` of ``key`` recorded by ``run``."""
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name=run.job_name,
            event_specific_data=StepMaterializationData(
                dg.AssetMaterialization(key, partition=partition)
            ),
        ),
        run_id=run.run_id,
    )


def _start_run_with_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> DagsterRun:
    run = instance.add_run(
        DagsterRun(
            job_name="daily_feeds_job", run_id=make_new_run_id(), status=DagsterRunStatus.STARTED
        )
    )
    _materialize_in(instance, run, key, partition)
    return run


def test_events_of_a_run_in_progress_wait_for_its_end(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _report(instance, SALES, "2025-01-01")
    run = _start_run_with_materialization(instance, SALES, "2025-01-05")
    _report(instance, SALES, "2025-01-06")

    # Its blocking check may not be on record yet: that event and every later one of the
    # key wait; what came before is requested.
    first = _tick(sales_models_sensor, instance)
    assert _ranges(first) == [("2025-01-01", "2025-01-01")]
    assert _ranges(_tick(sales_models_sensor, instance, first.cursor)) == []

    instance.report_run_failed(run)  # finished, and no check failed
    second = _tick(sales_models_sensor, instance, first.cursor)
    assert _ranges(second) == [("2025-01-05", "2025-01-06")]
    assert _tick(sales_models_sensor, instance, second.cursor).run_requests == []


def _queue_run_planning(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> DagsterRun:
    """A run not started yet that plans to materialize ``partition`` of ``key``: the
    planned event is recorded as a run is created, before it is queued or started."""
    run = instance.add_run(
        DagsterRun(
            job_name="daily_feeds_job",
            run_id=make_new_run_id(),
            status=DagsterRunStatus.NOT_STARTED,
        )
    )
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
            job_name=run.job_name,
            event_specific_data=AssetMaterializationPlannedData(key, partition=partition),
        ),
        run_id=run.run_id,
    )
    return run


def test_a_burst_of_loads_is_held_until_the_last_one_ends(snapshots_loaded) -> None:
    instance = snapshots_loaded
    _report(instance, SALES, "2025-01-01")
    run = _queue_run_planning(instance, SALES, "2025-01-02")  # the next file of the burst

    held = _tick(sales_models_sensor, instance)
    assert held.run_requests == []
    assert held.skip_message == (
        "Holding 1 new event(s) of ingestion/sales while 1 run(s) that plan to write it "
        f"finish: {run.run_id}"
    )
    assert held.cursor is None  # nothing consumed

    _materialize_in(instance, run, SALES, "2025-01-02")
    instance.report_run_failed(run)  # finished, and no check failed
    assert _ranges(_tick(sales_models_sensor, instance)) == [("2025-01-01", "2025-01-02")]


def test_a_hold_ends_after_its_bound(snapshots_loaded, monkeypatch) -> None:
    instance = snapshots_loaded
    _report(instance, SALES, "2025-01-01")
    _queue_run_planning(instance, SALES, "2025-01-02")  # stuck in the queue
    monkeypatch.setattr(sensors_module, "MAX_HOLD_SECONDS", 0)

    assert _ranges(_tick(sales_models_sensor, instance)) == [("2025-01-01", "2025-01-01")]


def test_regional_rebuild_waits_for_queued_sales_models_runs(instance) -> None:
    _report(instance, ENRICHED_SALES, "2025-01-01")
    _queue_run_planning(instance, ENRICHED_SALES, "2025-01-02")

    held = _tick(regional_sales_sensor, instance)

    assert held.run_requests == []
    assert held.skip_message is not None
    assert held.skip_message.startswith("Holding 1 new event(s) of transformation/enriched_sales")


# --- regional_sales_sensor -----------------------------------------------------------


def test_regional_request_covers_every_region_of_the_days(instance) -> None:
    _report(instance, ENRICHED_SALES, "2025-01-01", "2025-01-02", "2025-01-03")

    data = _tick(regional_sales_sensor, instance)

    assert data.run_requests == [
        dg.RunRequest(
            run_key=run_key(
                "regional_sales",
                _records(instance, ENRICHED_SALES, "2025-01-01", "2025-01-03"),
                "2025-01-01",
                "2025-01-03",
            ),
            job_name="regional_sales_job",
            tags={
                **range_tags(dg.PartitionKeyRange("2025-01-01|US", "2025-01-03|APAC")),
                SENSOR_NAME_TAG: "regional_sales_sensor",
            },
        )
    ]
    assert _tick(regional_sales_sensor, instance, data.cursor).run_requests == []


def _sales_models_run(instance: dg.DagsterInstance, day: str, tags: dict[str, str]) -> None:
    """A finished sales models run with ``tags`` that rebuilt ``day`` of enriched_sales."""
    run = instance.add_run(
        DagsterRun(
            job_name="sales_models_job",
            run_id=make_new_run_id(),
            status=DagsterRunStatus.STARTED,
            tags=tags,
        )
    )
    _materialize_in(instance, run, ENRICHED_SALES, day)
    instance.report_run_failed(run)  # finished, and no check failed


def test_regional_leaves_rebuilds_batched_with_their_regional_run(instance) -> None:
    # enriched_sales rebuilt by a sales models run of sales_models_sensor's batches (its
    # regional run was requested with it), then by a run launched from the UI.
    _sales_models_run(instance, "2025-01-01", {SALES_BATCH_TAG: "sales_models:abc:1"})
    _report(instance, ENRICHED_SALES, "2025-01-03")

    data = _tick(regional_sales_sensor, instance)

    assert _ranges(data, "regional_sales_job") == [("2025-01-03|US", "2025-01-03|APAC")]
    assert _tick(regional_sales_sensor, instance, data.cursor).run_requests == []


def test_regional_rebuilds_after_a_retry_of_a_batched_run(instance) -> None:
    # The batch's regional run gave up when the original died; the retry's rebuild of
    # enriched_sales needs a regional run of its own.
    tags = {SALES_BATCH_TAG: "sales_models:abc:1", PARENT_RUN_ID_TAG: make_new_run_id()}
    _sales_models_run(instance, "2025-01-02", tags)

    data = _tick(regional_sales_sensor, instance)

    assert _ranges(data, "regional_sales_job") == [("2025-01-02|US", "2025-01-02|APAC")]


# --- customer_snapshot_sensor (asset sensor) -----------------------------------------


def _latest_timestamp(instance: dg.DagsterInstance, key: dg.AssetKey) -> float:
    event = instance.get_latest_materialization_event(key)
    assert event is not None
    return event.timestamp


def test_customer_snapshot_refreshes_the_customer_models(instance) -> None:
    _report(instance, CUSTOMERS)

    first = _tick(customer_snapshot_sensor, instance)
    # Orders never loaded: only the model that needs no orders table.
    assert first.run_requests == [
        dg.RunRequest(
            run_key=f"customer_snapshot::{_latest_timestamp(instance, CUSTOMERS)}",
            job_name="customer_models_job",
            asset_selection=[CUSTOMER_EMAILS],
            tags={SENSOR_NAME_TAG: "customer_snapshot_sensor"},
        )
    ]
    assert _tick(customer_snapshot_sensor, instance, first.cursor).run_requests == []

    _report(instance, ORDERS, "2025-01-01")
    _report(instance, CUSTOMERS)
    second = _tick(customer_snapshot_sensor, instance, first.cursor)
    assert second.run_requests == [
        dg.RunRequest(
            run_key=f"customer_snapshot::{_latest_timestamp(instance, CUSTOMERS)}",
            job_name="customer_models_job",
            asset_selection=[CUSTOMER_EMAILS, CUSTOMER_ORDERS],
            tags={SENSOR_NAME_TAG: "customer_snapshot_sensor"},
        )
    ]
    assert _keys(second) != _keys(first)


def test_customer_snapshot_that_failed_its_check_is_skipped(instance) -> None:
    _load_with_failed_check(instance, CUSTOMERS)

    data = _tick(customer_snapshot_sensor, instance)

    assert data.run_requests == []
    assert data.skip_message is not None
    assert "failed a blocking check" in data.skip_message


# --- order_history_sensor ------------------------------------------------------------


def test_orders_rebuild_customer_orders_once_per_tick(instance) -> None:
    days = _days(dt.date(2024, 1, 1), 365)
    _report(instance, ORDERS, *days)
    assert _tick(order_history_sensor, instance).skip_message == (
        "Waiting for a first load of ingestion/customers"
    )

    _report(instance, CUSTOMERS)
    data = _tick(order_history_sensor, instance)

    assert data.run_requests == [
        dg.RunRequest(
            run_key=run_key("customer_orders", _records(instance, ORDERS, days[0], days[-1])),
            job_name="customer_models_job",
            asset_selection=[CUSTOMER_ORDERS],
            tags={SENSOR_NAME_TAG: "order_history_sensor"},
        )
    ]
    assert _tick(order_history_sensor, instance, data.cursor).run_requests == []
