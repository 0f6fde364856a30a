"""Pins of the private Dagster names in ``platform_shared.dagster_private``.

Each test states the behaviour the platform relies on. After a Dagster upgrade a failure
here names the symbol that moved or changed (``make upgrade-dagster`` runs these first).
"""

import inspect
import warnings

import dagster as dg
import pytest

from platform_shared import dagster_private as private


def test_run_tags_keep_their_stored_values() -> None:
    # Stored with every run: a changed value would make the sensors lose their history.
    assert private.RUN_KEY_TAG == "dagster/run_key"
    assert private.SENSOR_NAME_TAG == "dagster/sensor_name"
    assert private.PARENT_RUN_ID_TAG == "dagster/parent_run_id"
    assert private.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert private.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"
    assert private.PARTITION_NAME_TAG == "dagster/partition"
    assert private.WILL_RETRY_TAG == "dagster/will_retry"
    assert private.AUTO_RETRY_RUN_ID_TAG == "dagster/auto_retry_run_id"
    assert private.RETRY_NUMBER_TAG == "dagster/retry_number"


def test_a_failed_run_says_at_once_whether_it_will_be_retried() -> None:
    @dg.asset
    def broken() -> None:
        raise ValueError("no")

    overrides = {"run_retries": {"enabled": True, "max_retries": 1}}
    job = dg.Definitions(assets=[broken]).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test(overrides=overrides) as instance:
        run = job.execute_in_process(instance=instance, raise_on_error=False).dagster_run
        stored = instance.get_run_by_id(run.run_id)
        assert stored is not None
        assert stored.tags[private.WILL_RETRY_TAG] == "true"
        assert private.AUTO_RETRY_RUN_ID_TAG not in stored.tags


def test_freshness_states_read_back_as_the_daemon_records_them() -> None:
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    key = dg.AssetKey(["a", "b"])
    with dg.instance_for_test() as instance:
        assert private.freshness_state_records(instance, [key]) == {}
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=key,
                previous_state=FreshnessState.PASS,
                new_state=FreshnessState.FAIL,
                state_change_timestamp=1.0,
            )
        )
        record = private.freshness_state_records(instance, [key])[key]
        assert record.freshness_state.value == "FAIL"


def test_range_tags_make_a_run_over_the_range() -> None:
    days = dg.DailyPartitionsDefinition(start_date="2025-01-01")
    seen: list[str] = []

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def daily(context: dg.AssetExecutionContext) -> None:
        seen.extend(context.partition_keys)

    job = dg.define_asset_job("ranged", selection=[daily], partitions_def=days)
    resolved = dg.Definitions(assets=[daily], jobs=[job]).resolve_job_def("ranged")
    tags = {
        private.ASSET_PARTITION_RANGE_START_TAG: "2025-01-02",
        private.ASSET_PARTITION_RANGE_END_TAG: "2025-01-04",
    }
    assert resolved.execute_in_process(tags=tags).success
    assert seen == ["2025-01-02", "2025-01-03", "2025-01-04"]


def test_a_nameless_sensor_context_raises_check_error() -> None:
    context = dg.build_sensor_context()
    with pytest.raises(private.CheckError):
        _ = context.sensor_name
    with pytest.raises(dg.DagsterInvariantViolationError):
        _ = context.instance


def test_db_io_manager_takes_the_arguments_the_transformation_location_passes() -> None:
    parameters = set(inspect.signature(private.DbIOManager.__init__).parameters)
    assert {
        "type_handlers",
        "db_client",
        "database",
        "schema",
        "default_load_type",
        "io_manager_name",
    } <= parameters
    for method in ("handle_output", "load_input"):
        assert callable(getattr(private.DbIOManager, method))
    fields = set(inspect.signature(private.TableSlice).parameters)
    assert {"table", "schema", "partition_dimensions", "columns"} <= fields
    for method in ("handle_output", "load_input", "supported_types"):
        assert hasattr(private.DbTypeHandler, method)


def test_sensors_keep_what_they_watch_where_the_accessors_read_it() -> None:
    # The definitions snapshot of every location lists what its sensors watch.
    job = dg.define_asset_job("watched")
    selection = dg.AssetSelection.groups("default")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*MultiAssetSensorDefinition. is superseded")

        @dg.multi_asset_sensor(monitored_assets=selection, job=job)
        def watching_assets(context: dg.MultiAssetSensorEvaluationContext) -> None: ...

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.FAILURE, monitored_jobs=[job])
    def watching_runs(context: dg.RunStatusSensorContext) -> None: ...

    assert private.monitored_assets(watching_assets) is selection
    assert private.monitored_runs(watching_runs) == (dg.DagsterRunStatus.FAILURE, [job])
