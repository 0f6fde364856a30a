"""Cross-location trigger: refresh analytics when transformation's outputs change.

One tick folds every new materialization of the watched assets -- a backfill of many
partitions of both assets included -- into at most one run request. The run key names
exactly the upstream events it answers, so a tick evaluated twice (daemon restart before
the cursor was stored) requests the same key and the daemon launches it once.
"""

from __future__ import annotations

import time

import dagster as dg

# The module, not its jobs: a job bound to a name here would be loaded from this module too.
from analytics.defs import jobs
from analytics.defs.upstream import CUSTOMER_ORDERS, ENRICHED_SALES, REGIONAL_DAILY_SALES
from analytics.keys import (
    CUSTOMER_LIFETIME_VALUE,
    DAILY_REVENUE_REPORT,
    SALES_SUMMARY,
    TOP_PRODUCTS,
)
from platform_shared.cross_location import (
    read_materializations,
    recover_cursor,
    run_key,
    runs_in_progress,
    usable_records,
)
from platform_shared.partitions import REGIONS, date_region_key
from platform_shared.sensor_timing import EVERY_DAEMON_PASS

WATCHED = (ENRICHED_SALES, REGIONAL_DAILY_SALES)
REFRESH_WITHOUT_CUSTOMERS = [SALES_SUMMARY, TOP_PRODUCTS, DAILY_REVENUE_REPORT]
RUN_KEY_PREFIX = "analytics_refresh"


# How long a day of enriched_sales may wait for its regional_daily_sales before analytics
# refreshes without it (the regional run failed, or its sensor is stopped).
REGIONAL_GRACE_SECONDS = 600


def _days_awaiting_regional(
    instance: dg.DagsterInstance, records: list[dg.EventLogRecord]
) -> set[str]:
    """Days of enriched_sales not yet followed by their regional_daily_sales rebuild.

    Transformation rebuilds regional_daily_sales in a run of its own right after
    enriched_sales; refreshing in between would publish a report missing those days and
    then refresh again. Holding back (cursor unmoved) folds both into one refresh.
    """
    now = time.time()
    waiting = set()
    for record in records:
        day = record.partition_key
        if record.asset_key != ENRICHED_SALES or not day:
            continue
        if now - record.timestamp > REGIONAL_GRACE_SECONDS:
            continue
        follow_up = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=REGIONAL_DAILY_SALES,
                asset_partitions=[str(date_region_key(day, region)) for region in REGIONS],
                after_storage_id=record.storage_id,
            ),
            limit=1,
        )
        if not follow_up.records:
            waiting.add(day)
    return waiting


@dg.sensor(
    job=jobs.analytics_refresh_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Every pass of the sensor daemon keeps the landing-to-analytics latency low; bursts
    # are folded anyway, because the sensor waits for upstream runs to finish and then
    # answers everything they wrote with one request. An evaluation is a few indexed
    # event-log reads, cheap at this rate.
    minimum_interval_seconds=EVERY_DAEMON_PASS,
    description=(
        "Requests one analytics refresh for all new materializations of transformation's "
        "enriched_sales and regional_daily_sales, once the runs that wrote them finished "
        "and passed their blocking checks."
    ),
)
def transformation_updates_sensor(
    context: dg.SensorEvaluationContext,
) -> dg.SensorResult | dg.SkipReason:
    cursor = recover_cursor(context, WATCHED)
    events = read_materializations(context.instance, WATCHED, cursor)
    if not events.records:
        return dg.SkipReason("No new materialization of enriched_sales or regional_daily_sales")

    # A run's blocking checks are evaluated after its materializations are recorded:
    # wait until the upstream runs finish (keeping the cursor where it is) so a failed
    # check is seen before anything is consumed. It also folds a whole backfill run
    # into one refresh.
    in_progress = runs_in_progress(context.instance, (r.run_id for r in events.records))
    if in_progress:
        return dg.SkipReason(
            f"Waiting for {len(in_progress)} upstream run(s) to finish: "
            + ", ".join(sorted(in_progress)[:5])
        )

    records = usable_records(context.instance, events)
    waiting = _days_awaiting_regional(context.instance, records)
    if waiting:
        return dg.SkipReason(
            "Waiting for regional_daily_sales of "
            + ", ".join(sorted(waiting)[:5])
            + " before refreshing (enriched_sales is rebuilt first)"
        )
    if not records:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{len(events.records)} new materialization(s) all came from runs that "
                "failed a blocking check"
            ),
            cursor=events.cursor,
        )
    partitions = {r.partition_key for r in records if r.partition_key}
    context.log.info(
        f"Requesting a refresh for {len(records)} upstream materialization(s) "
        f"over {len(partitions)} partition(s)"
    )
    request = dg.RunRequest(
        run_key=run_key(RUN_KEY_PREFIX, records),
        tags={"analytics/upstream_materializations": str(len(records))},
    )
    if context.instance.get_latest_materialization_event(CUSTOMER_ORDERS) is None:
        # Sales can reach analytics before any orders file has built customer_orders;
        # refresh what the sales allow now, and the customer mart once orders exist.
        context.log.info(
            f"{CUSTOMER_ORDERS.to_user_string()} was never materialized: "
            f"{CUSTOMER_LIFETIME_VALUE.to_user_string()} is left out of this refresh"
        )
        request = request.with_replaced_attrs(asset_selection=REFRESH_WITHOUT_CUSTOMERS)
    return dg.SensorResult(run_requests=[request], cursor=events.cursor)
