"""The safety net behind the file sensors: yesterday's daily feeds, every morning."""

import datetime as dt

import dagster as dg

from ingestion.defs import jobs
from ingestion.feeds import DAILY_FEEDS
from platform_shared.partitions import PARTITIONS_START_DATE, daily_partitions
from platform_shared.settings import current

FALLBACK_TRIGGER_TAG = "ingestion/trigger"


@dg.schedule(
    name="daily_feeds_fallback_schedule",
    job=jobs.daily_feeds_job,
    cron_schedule="0 6 * * *",
    # Read once when the location loads: schedules need their timezone at definition time.
    execution_timezone=current("PLATFORM_TIMEZONE"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_feeds_fallback_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """At 06:00 (PLATFORM_TIMEZONE), load yesterday's orders and sales if no run has yet.

    RUNNING by default because it only acts when the sensors did not: a feed whose
    partition already has a materialization is left alone, so the normal day costs one
    cheap evaluation. A day whose file never arrived gets a run that fails with "landing
    file missing", which is the alert that the delivery is late.
    """
    day = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    if day < PARTITIONS_START_DATE:
        return dg.SkipReason(f"{day} is before the first partition")
    # East of UTC, local "yesterday" may not be over in UTC yet, so not a partition yet.
    if daily_partitions.end_time_for_partition_key(day) > context.scheduled_execution_time:
        return dg.SkipReason(f"Partition {day} is not open yet")
    missing = [
        feed
        for feed in DAILY_FEEDS
        if not context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=feed.key, asset_partitions=[day]), limit=1
        ).records
    ]
    if not missing:
        return dg.SkipReason(f"orders and sales of {day} are already loaded")
    return dg.RunRequest(
        run_key=f"fallback:{day}",
        partition_key=day,
        asset_selection=[feed.key for feed in missing],
        tags={FALLBACK_TRIGGER_TAG: "fallback_schedule"},
    )


# The lake's upkeep runs in the quiet hour ingestion's feeds leave: after analytics' 02:30
# report, before the 06:00 fallback loads.
@dg.schedule(
    job=jobs.lake_maintenance_job,
    cron_schedule="0 4 * * *",
    # Read once when the location loads: schedules need their timezone at definition time.
    execution_timezone=current("PLATFORM_TIMEZONE"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def lake_maintenance_schedule() -> dg.RunRequest:
    """Every day at 04:00 (PLATFORM_TIMEZONE)."""
    return dg.RunRequest()
