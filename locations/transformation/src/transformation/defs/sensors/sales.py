"""The sales sensors: ingestion's sale loads -> sales models (with their regional run), and
enriched_sales rebuilt any other way -> regional_daily_sales."""

from __future__ import annotations

import dataclasses
import time

import dagster as dg

from platform_shared.cross_location import range_tags, recover_cursor, runs_still_writing
from platform_shared.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARENT_RUN_ID_TAG,
)
from platform_shared.partitions import daily_partitions, date_region_key, region_partitions
from platform_shared.sensor_timing import EVERY_DAEMON_PASS
from transformation.defs import jobs
from transformation.defs.sales.batch import SALES_BATCH_TAG
from transformation.defs.sensors.common import RUNNING, never_loaded, result
from transformation.defs.sensors.triggers import UpstreamBatch, range_requests, read_batch
from transformation.keys import CUSTOMERS, ENRICHED_SALES, PRODUCTS, SALES

RANGES_PER_TICK = 4
SALES_INTERVAL_SECONDS = EVERY_DAEMON_PASS
# Bounds the wait for a stream of loads that never pauses; a burst lasts seconds.
MAX_HOLD_SECONDS = 60


def _hold_for_writers(
    instance: dg.DagsterInstance, key: dg.AssetKey, batch: UpstreamBatch
) -> dg.SkipReason | None:
    """A reason to hold ``batch`` while more runs are about to write ``key``, or None."""
    if not batch.records:
        return None
    writing = runs_still_writing(instance, [key])
    waited = time.time() - min(r.timestamp for r in batch.records)
    if not writing or waited >= MAX_HOLD_SECONDS:
        return None
    return dg.SkipReason(
        f"Holding {len(batch.records)} new event(s) of {key.to_user_string()} while "
        f"{len(writing)} run(s) that plan to write it finish: " + ", ".join(sorted(writing)[:5])
    )


@dg.sensor(
    jobs=[jobs.sales_models_job, jobs.regional_sales_job],
    minimum_interval_seconds=SALES_INTERVAL_SECONDS,
    default_status=RUNNING,
    description=(
        "Rebuilds enriched_sales and daily_sales for the days ingestion loaded, in at most "
        f"{RANGES_PER_TICK} range runs per tick, each with a regional_daily_sales run for "
        "the same days that writes once it succeeded."
    ),
)
def sales_models_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    # Sale lines are joined with both snapshots; until each has loaded once, wait with the
    # cursor unmoved rather than build lines without product or region.
    missing = never_loaded(context.instance, CUSTOMERS, PRODUCTS)
    if missing:
        return dg.SkipReason(f"Waiting for a first load of {', '.join(missing)}")
    batch = read_batch(context.instance, [SALES], recover_cursor(context, [SALES]))
    hold = _hold_for_writers(context.instance, SALES, batch)
    if hold:
        return hold
    requests = range_requests(
        batch,
        job_name=jobs.sales_models_job.name,
        prefix="sales_models",
        partitions_def=daily_partitions,
        max_ranges=RANGES_PER_TICK,
    )
    requests = [paired for request in requests for paired in _with_regional(request)]
    if batch.blocked:
        context.log.warning(
            f"Not rebuilding {len(batch.blocked)} day(s) whose sales load failed a blocking "
            f"check: {', '.join(sorted(batch.blocked))}"
        )
    return result(requests, batch.cursor, "No new usable sales partitions")


def _with_regional(request: dg.RunRequest) -> list[dg.RunRequest]:
    """``request`` and the regional rebuild of its days, tagged as one batch.

    The regional run starts with the sales models run and waits for it instead of being
    requested by a later tick: a daemon pass (5 s) less
    from a landing file to analytics. Its run key ends like its sibling's, with the newest
    event answered, for ``recover_cursor``.
    """
    assert request.run_key is not None
    days = dg.PartitionKeyRange(
        request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
    )
    batch = {SALES_BATCH_TAG: request.run_key}
    _, _, answered = request.run_key.partition(":")
    return [
        request.with_replaced_attrs(tags={**request.tags, **batch}),
        dg.RunRequest(
            run_key=f"regional_sales:{answered}",
            job_name=jobs.regional_sales_job.name,
            tags={**_date_region_range_tags(days), **batch},
        ),
    ]


def _without_batched(instance: dg.DagsterInstance, batch: UpstreamBatch) -> UpstreamBatch:
    """``batch`` without the events of sales models runs whose regional rebuild was
    requested with them: only rebuilds launched otherwise (UI, backfill) are left.

    A retry (its process died) keeps the batch tag, but the batch's regional run may
    have given up on the failed original already: a retry's events are kept.
    """
    run_ids = sorted({r.run_id for r in batch.records if r.run_id})
    if not run_ids:
        return batch
    batched = {
        run.run_id
        for run in instance.get_runs(dg.RunsFilter(run_ids=run_ids))
        if SALES_BATCH_TAG in run.tags and PARENT_RUN_ID_TAG not in run.tags
    }
    records = [r for r in batch.records if r.run_id not in batched]
    left = {r.partition_key for r in records}
    return dataclasses.replace(
        batch, records=records, partitions=frozenset(p for p in batch.partitions if p in left)
    )


def _date_region_range_tags(days: dg.PartitionKeyRange) -> dict[str, str]:
    """Range tags covering every region of the days in ``days``."""
    regions = region_partitions.get_partition_keys()
    return range_tags(
        dg.PartitionKeyRange(
            str(date_region_key(days.start, regions[0])),
            str(date_region_key(days.end, regions[-1])),
        )
    )


@dg.sensor(
    job=jobs.regional_sales_job,
    minimum_interval_seconds=SALES_INTERVAL_SECONDS,
    default_status=RUNNING,
    description=(
        "Rebuilds regional_daily_sales (every region) for the days enriched_sales was "
        "rebuilt outside sales_models_sensor's batches (UI, backfills), once its checks "
        "passed."
    ),
)
def regional_sales_sensor(
    context: dg.SensorEvaluationContext,
) -> dg.SensorResult | dg.SkipReason:
    # A run takes one partition range, and this asset's ranges are date x region keys, so
    # it has runs of its own; the sales sensor requests them with its own runs, and this
    # sensor catches enriched_sales rebuilt any other way.
    batch = _without_batched(
        context.instance,
        read_batch(context.instance, [ENRICHED_SALES], recover_cursor(context, [ENRICHED_SALES])),
    )
    hold = _hold_for_writers(context.instance, ENRICHED_SALES, batch)
    if hold:
        return hold
    requests = range_requests(
        batch,
        job_name=jobs.regional_sales_job.name,
        prefix="regional_sales",
        partitions_def=daily_partitions,
        max_ranges=RANGES_PER_TICK,
        tags_for=_date_region_range_tags,
    )
    return result(requests, batch.cursor, "No new usable enriched_sales partitions")
