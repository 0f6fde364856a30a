"""Rules every definition of the location keeps, schedule ticks and real job runs; what it
declares is in ``test_definitions_snapshot.py``."""

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from analytics.definitions import defs
from analytics.defs import schedules
from analytics.defs.upstream import CUSTOMER_ORDERS, ENRICHED_SALES, REGIONAL_DAILY_SALES
from platform_shared.settings import default
from platform_shared.testing import settings_of

SALES_SUMMARY = dg.AssetKey(["analytics", "sales_summary"])
TOP_PRODUCTS = dg.AssetKey(["analytics", "top_products"])
CLV = dg.AssetKey(["analytics", "customer_lifetime_value"])
REPORT = dg.AssetKey(["analytics", "daily_revenue_report"])
REPORT_OP = "analytics__daily_revenue_report"
TZ = ZoneInfo(schedules.TIMEZONE)


def _selected(job_name: str) -> set[dg.AssetKey]:
    return set(defs.resolve_job_def(job_name).asset_layer.selected_asset_keys)


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_jobs_never_select_other_locations_assets():
    for job in defs.resolve_all_job_defs():
        assert all(k.path[0] == "analytics" for k in job.asset_layer.selected_asset_keys), job.name


def test_schedules_module_lists_every_schedule():
    # DEFAULT_RUNNING, which the tick tests below run over, is taken from SCHEDULES.
    assert {s.name for s in defs.schedules or []} == {s.name for s in schedules.SCHEDULES}


def test_no_asset_waits_for_a_pool():
    # The lake takes concurrent writers; a pool (one slot by default) would queue them.
    graph = defs.resolve_asset_graph()
    assert [key for key in graph.get_all_asset_keys() if graph.get(key).pools] == []


UPSTREAM = (ENRICHED_SALES, REGIONAL_DAILY_SALES, CUSTOMER_ORDERS)


class Evaluation(Protocol):
    """What these tests read of an evaluated tick (Dagster exports no name for its type)."""

    @property
    def run_requests(self) -> Sequence[dg.RunRequest] | None: ...
    @property
    def skip_message(self) -> str | None: ...


def _tick(
    schedule: dg.ScheduleDefinition, tick: dt.datetime, built: tuple[dg.AssetKey, ...] = UPSTREAM
) -> Evaluation:
    """Evaluate ``schedule`` at ``tick`` on an instance where only ``built`` were ever
    materialized upstream."""
    with dg.instance_for_test() as instance:
        for key in built:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        # Entered, so the instance it opens is closed again (Dagster keeps the open one in a
        # context variable that later definition loads read).
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        ) as context:
            return schedule.evaluate_tick(context)


def _run_config(schedule: dg.ScheduleDefinition, tick: dt.datetime) -> Mapping[str, Any]:
    [request] = _tick(schedule, tick).run_requests or []
    return request.run_config


MONDAY_0900 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=TZ)


@pytest.mark.parametrize("name", schedules.DEFAULT_RUNNING)
def test_schedules_skip_until_transformation_built_their_inputs(name: str):
    result = _tick(defs.resolve_schedule_def(name), MONDAY_0900, built=())
    assert not result.run_requests
    assert result.skip_message
    assert result.skip_message.startswith("Never materialized upstream: transformation/")
    job_inputs = {
        parent.to_user_string()
        for key in _selected(defs.resolve_schedule_def(name).job_name)
        for parent in defs.resolve_asset_graph().get(key).parent_keys
    }
    assert all(n in result.skip_message for n in job_inputs), (job_inputs, result.skip_message)


def test_weekly_review_leaves_out_customer_value_until_customer_orders_exist():
    sales_only = (ENRICHED_SALES, REGIONAL_DAILY_SALES)
    [request] = _tick(schedules.weekly_review_schedule, MONDAY_0900, sales_only).run_requests or []
    assert set(request.asset_selection or ()) == {SALES_SUMMARY, TOP_PRODUCTS, REPORT}

    [request] = _tick(schedules.weekly_review_schedule, MONDAY_0900).run_requests or []
    assert request.asset_selection is None  # the whole job


def test_business_critical_runs_the_whole_job_once_its_inputs_exist():
    [request] = _tick(schedules.business_critical_schedule, MONDAY_0900).run_requests or []
    assert request.asset_selection is None
    [request] = (
        _tick(schedules.business_critical_schedule, MONDAY_0900, (ENRICHED_SALES,)).run_requests
        or []
    )
    assert request.asset_selection == [SALES_SUMMARY]


def test_daily_schedule_reports_on_the_day_before_the_tick():
    tick = dt.datetime(2024, 3, 4, 2, 30, tzinfo=TZ)
    assert _run_config(schedules.daily_revenue_report_schedule, tick) == {
        "ops": {REPORT_OP: {"config": {"report_date": "2024-03-03", "lookback_days": 30}}}
    }
    new_year = dt.datetime(2025, 1, 1, 2, 30, tzinfo=TZ)
    assert _run_config(schedules.daily_revenue_report_schedule, new_year) == {
        "ops": {REPORT_OP: {"config": {"report_date": "2024-12-31", "lookback_days": 30}}}
    }


def test_daily_schedule_uses_the_schedule_timezone():
    # 23:30 UTC on 3 March is already 4 March in Tokyo: the day before depends on the zone.
    tick = dt.datetime(2024, 3, 3, 23, 30, tzinfo=dt.UTC)
    expected = (tick.astimezone(TZ).date() - dt.timedelta(days=1)).isoformat()
    config = _run_config(schedules.daily_revenue_report_schedule, tick)
    assert config["ops"][REPORT_OP]["config"]["report_date"] == expected


@pytest.mark.parametrize(
    ("tick", "report_date", "days"),
    [
        (dt.datetime(2024, 3, 1, tzinfo=TZ), "2024-02-29", 29),
        (dt.datetime(2024, 1, 1, tzinfo=TZ), "2023-12-31", 31),
        (dt.datetime(2024, 5, 1, tzinfo=TZ), "2024-04-30", 30),
    ],
)
def test_monthly_schedule_reports_on_the_month_that_ended(
    tick: dt.datetime, report_date: str, days: int
):
    assert _run_config(schedules.monthly_revenue_report_schedule, tick) == {
        "ops": {REPORT_OP: {"config": {"report_date": report_date, "lookback_days": days}}}
    }


@pytest.fixture
def platform_env(monkeypatch, warehouse, exports) -> None:
    """The settings the real definitions read at run time, pointed at the test warehouse."""
    for name, value in settings_of(warehouse).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAREHOUSE_MEMORY_LIMIT", default("WAREHOUSE_MEMORY_LIMIT"))
    monkeypatch.setenv("EXPORT_URL", exports.url)
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "https://dagster.example.com")


@pytest.mark.usefixtures("platform_env")
def test_refresh_job_runs_in_process(fetch, exported):
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("analytics_refresh_job").execute_in_process(instance=instance)
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {
        SALES_SUMMARY,
        TOP_PRODUCTS,
        CLV,
        REPORT,
    }
    counts = fetch(
        """
        SELECT (SELECT count(*) FROM analytics.sales_summary),
               (SELECT count(*) FROM analytics.top_products),
               (SELECT count(*) FROM analytics.customer_lifetime_value),
               (SELECT count(*) FROM analytics.daily_revenue_report)
        """
    )
    assert counts == [(3, 3, 5, 6)]
    [summary] = result.asset_materializations_for_node("analytics__sales_summary")
    assert summary.metadata["asset_url"] == dg.MetadataValue.url(
        "https://dagster.example.com/assets/analytics/sales_summary"
    )
    assert exported() == [
        "daily_revenue_report_2024-03-03_30d.parquet",
        "daily_revenue_report_2024-03-03_30d.png",
        "sales_summary.csv",
    ]


@pytest.mark.usefixtures("platform_env")
def test_daily_schedule_run_config_runs_the_report(fetch):
    tick = dt.datetime(2024, 3, 3, 2, 30, tzinfo=TZ)
    run_config = _run_config(schedules.daily_revenue_report_schedule, tick)
    result = defs.resolve_job_def("reports_job").execute_in_process(run_config=run_config)
    assert result.success
    assert fetch("SELECT min(date), max(date) FROM analytics.daily_revenue_report") == [
        (dt.date(2024, 3, 1), dt.date(2024, 3, 2))
    ]
