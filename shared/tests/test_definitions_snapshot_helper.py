"""``definitions_snapshot`` on the kinds of definitions no location has yet."""

import datetime as dt
import warnings

import dagster as dg

from platform_shared.testing import definitions_snapshot

hours = dg.HourlyPartitionsDefinition(
    start_date="2025-01-01-00:00", timezone="Europe/Paris", end_offset=1
)
tenants = dg.DynamicPartitionsDefinition(name="tenants")


@dg.asset(
    key_prefix=["demo"],
    partitions_def=hours,
    backfill_policy=dg.BackfillPolicy.multi_run(24),
    automation_condition=dg.AutomationCondition.eager(),
    pool="lake",
    description="Hourly events.\n\nLonger text that stays out of the snapshot.",
)
def events() -> None: ...


@dg.asset(
    key_prefix=["demo"],
    partitions_def=tenants,
    deps=[events],
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 9 * * *", lower_bound_delta=dt.timedelta(minutes=90), timezone="UTC"
    ),
)
def per_tenant() -> None: ...


@dg.op
def vacuum() -> None: ...


@dg.job
def vacuum_job() -> None:
    vacuum()


events_job = dg.define_asset_job("events_job", selection=[events])


with warnings.catch_warnings():
    # Superseded by declarative automation: here to be shown, not recommended.
    warnings.filterwarnings("ignore", message=".*MultiAssetSensorDefinition. is superseded")

    @dg.multi_asset_sensor(monitored_assets=dg.AssetSelection.groups("default"), job=vacuum_job)
    def any_change(context: dg.MultiAssetSensorEvaluationContext) -> None: ...


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[events_job, dg.JobSelector(location_name="other", job_name="load")],
    request_job=vacuum_job,
)
def after_events(context: dg.RunStatusSensorContext) -> None: ...


@dg.run_failure_sensor
def on_any_failure(context: dg.RunFailureSensorContext) -> None: ...


@dg.sensor(target=[per_tenant], minimum_interval_seconds=60)
def tenants_sensor() -> None: ...


defs = dg.Definitions(
    assets=[events, per_tenant],
    jobs=[vacuum_job, events_job],
    schedules=[
        dg.ScheduleDefinition(
            name="nightly_tenants",
            target=[per_tenant],
            cron_schedule=["0 1 * * *", "0 13 * * *"],
            execution_timezone="America/New_York",
        )
    ],
    sensors=[any_change, after_events, on_any_failure, tenants_sensor],
)


def test_assets_show_partitions_policies_and_conditions() -> None:
    found = definitions_snapshot(defs)["assets"]
    assert found["demo/events"] == {
        "execution": "materializable",
        "group": "default",
        "owners": [],
        "kinds": [],
        "tags": {},
        "description": "Hourly events.",
        "deps": [],
        "pools": ["lake"],
        "partitions": {
            "type": "HourlyPartitionsDefinition",
            "cron": "0 * * * *",
            "start": "2025-01-01-00:00",
            "timezone": "Europe/Paris",
            "end_offset": 1,
        },
        "backfill_policy": "multi_run, at most 24 partitions per run",
        "automation_condition": "eager",
    }
    tenant = found["demo/per_tenant"]
    assert tenant["deps"] == ["demo/events"]
    assert tenant["partitions"] == {"type": "DynamicPartitionsDefinition", "name": "tenants"}
    # UTC is this test session's PLATFORM_TIMEZONE unless the machine sets another.
    assert tenant["freshness_policy"]["lower_bound"] == "90m"


def test_jobs_schedules_and_every_kind_of_sensor() -> None:
    found = definitions_snapshot(defs)
    assert found["jobs"]["vacuum_job"] == {"description": None, "ops": ["vacuum"]}
    assert found["jobs"]["events_job"]["assets"] == ["demo/events"]
    assert not [name for name in found["jobs"] if name.startswith("__")]
    assert found["schedules"]["nightly_tenants"] == {
        "cron": ["0 1 * * *", "0 13 * * *"],
        "timezone": "America/New_York",
        "default_status": "STOPPED",
        "description": None,
        "jobs": [],
        "assets": ["demo/per_tenant"],
    }
    sensors = found["sensors"]
    assert sensors["any_change"]["type"] == "multi_asset"
    assert sensors["any_change"]["monitored_assets"] == ["demo/events", "demo/per_tenant"]
    assert sensors["any_change"]["jobs"] == ["vacuum_job"]
    assert sensors["after_events"] == {
        "type": "run_status",
        "run_status": "SUCCESS",
        "monitored_jobs": ["events_job", "other:load"],
        "minimum_interval_seconds": 30,
        "default_status": "STOPPED",
        "description": None,
        "jobs": ["vacuum_job"],
    }
    assert sensors["on_any_failure"]["run_status"] == "FAILURE"
    assert sensors["on_any_failure"]["monitored_jobs"] == "all"
    assert sensors["tenants_sensor"] == {
        "type": "plain",
        "minimum_interval_seconds": 60,
        "default_status": "STOPPED",
        "description": None,
        "jobs": [],
        "assets": ["demo/per_tenant"],
    }


def test_the_platform_timezone_shows_by_its_setting_name(monkeypatch) -> None:
    monkeypatch.setenv("PLATFORM_TIMEZONE", "America/New_York")
    schedule = definitions_snapshot(defs)["schedules"]["nightly_tenants"]
    assert schedule["timezone"] == "PLATFORM_TIMEZONE"
