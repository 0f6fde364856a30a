"""Schedules of the analytics location (cron times in ``PLATFORM_TIMEZONE``).

Running by default (:data:`DEFAULT_RUNNING`): the daily revenue report at 02:30, the
monthly report at midnight on the 1st, the business-critical refresh on weekdays at
08:00 and the weekly full rebuild on Mondays at 09:00 -- each one is what a freshness
policy of the published tables relies on, or produces a report for a calendar period.

On a platform where transformation has not built a table yet, a tick requests only the
tables whose inputs exist, and skips with the names of the missing inputs when none do:
a fresh install gets a skipped tick to read, not a failed run.

Stopped by default: the half-hourly and hourly schedules. The upstream sensor already
rebuilds everything after each transformation load, so on a normal day these would
rebuild identical tables dozens of times; they are fallbacks to switch on deliberately.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

# The module, not its jobs: a job bound to a name here would be loaded from this module too.
from analytics.defs import jobs
from analytics.defs.reports.assets import report_run_config
from platform_shared.settings import current

# Read when the code server loads: a schedule's timezone is part of its definition.
TIMEZONE = current("PLATFORM_TIMEZONE")
RUNNING = dg.DefaultScheduleStatus.RUNNING
STOPPED = dg.DefaultScheduleStatus.STOPPED


def _tick_date(context: dg.ScheduleEvaluationContext) -> dt.date:
    """The calendar date of the tick in the schedule's timezone."""
    tick = context.scheduled_execution_time
    zone = ZoneInfo(TIMEZONE)
    local = tick.replace(tzinfo=zone) if tick.tzinfo is None else tick.astimezone(zone)
    return local.date()


def _gated(
    context: dg.ScheduleEvaluationContext, job_name: str, **request: Any
) -> dg.RunRequest | dg.SkipReason:
    """``RunRequest(**request)`` for the job's tables whose upstream tables of other
    locations have been materialized at least once; a skip naming them if none have.

    Only single-table jobs carry run config, so leaving tables out never orphans config.
    """
    repository = context.repository_def
    graph = repository.asset_graph
    selected = repository.get_job(job_name).asset_layer.selected_asset_keys
    missing = {
        parent
        for key in selected
        for parent in graph.get(key).parent_keys
        if parent in graph.external_asset_keys
        and context.instance.get_latest_materialization_event(parent) is None
    }
    if not missing:
        return dg.RunRequest(**request)
    names = ", ".join(sorted(k.to_user_string() for k in missing))
    ready = sorted(k for k in selected if not graph.get(k).parent_keys & missing)
    if not ready:
        return dg.SkipReason(f"Never materialized upstream: {names}")
    context.log.info(f"Leaving out the tables that read {names}, never materialized")
    return dg.RunRequest(asset_selection=ready, **request)


@dg.schedule(
    job=jobs.reports_job,
    cron_schedule="30 2 * * *",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description=(
        "Daily at 02:30: the revenue report of the 30 days up to yesterday, once the "
        "nightly loads are in."
    ),
)
def daily_revenue_report_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    report_date = _tick_date(context) - dt.timedelta(days=1)
    return _gated(
        context,
        jobs.reports_job.name,
        run_config=report_run_config(report_date, lookback_days=30),
        tags={"analytics/report_date": report_date.isoformat()},
    )


@dg.schedule(
    job=jobs.reports_job,
    cron_schedule="0 0 1 * *",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description=(
        "First of the month at midnight: the revenue report of the month that just ended, "
        "kept in the export folder under its own file names."
    ),
)
def monthly_revenue_report_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    last_day = _tick_date(context).replace(day=1) - dt.timedelta(days=1)
    return _gated(
        context,
        jobs.reports_job.name,
        run_config=report_run_config(last_day, lookback_days=last_day.day),
        tags={"analytics/report_date": last_day.isoformat()},
    )


@dg.schedule(
    job=jobs.business_critical_job,
    cron_schedule="0 8 * * 1-5",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description=(
        "Weekdays at 08:00: rebuild the business-critical tables before business hours, so "
        "the 09:00 freshness deadline of sales_summary holds even if an upstream event was "
        "missed."
    ),
)
def business_critical_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    return _gated(context, jobs.business_critical_job.name)


@dg.schedule(
    job=jobs.analytics_refresh_job,
    cron_schedule="0 9 * * 1",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description=(
        "Mondays at 09:00: rebuild every published table ahead of the weekly business "
        "review (meets the Monday 10:00 deadline of customer_lifetime_value)."
    ),
)
def weekly_review_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return _gated(context, jobs.analytics_refresh_job.name)


half_hourly_dashboards_schedule = dg.ScheduleDefinition(
    name="half_hourly_dashboards_schedule",
    job=jobs.sales_dashboards_job,
    cron_schedule="*/30 * * * *",
    execution_timezone=TIMEZONE,
    default_status=STOPPED,
    description=(
        "Every 30 minutes: rebuild what the sales dashboards read. Stopped by default; "
        "switch on for a trading peak while upstream tables are written outside Dagster "
        "(no events for the sensor to see)."
    ),
)

hourly_sale_lines_schedule = dg.ScheduleDefinition(
    name="hourly_sale_lines_schedule",
    job=jobs.sale_lines_rebuild_job,
    cron_schedule="0 * * * *",
    execution_timezone=TIMEZONE,
    default_status=STOPPED,
    description=(
        "Hourly: rebuild everything derived from enriched_sales. Stopped by default; the "
        "polling fallback while transformation_updates_sensor is stopped."
    ),
)

SCHEDULES = (
    daily_revenue_report_schedule,
    monthly_revenue_report_schedule,
    business_critical_schedule,
    weekly_review_schedule,
    half_hourly_dashboards_schedule,
    hourly_sale_lines_schedule,
)

DEFAULT_RUNNING = tuple(s.name for s in SCHEDULES if s.default_status == RUNNING)
