"""``orders_file_sensor`` and ``sales_file_sensor``: a run per new or corrected daily file."""

from __future__ import annotations

import dagster as dg

from ingestion.defs import jobs
from ingestion.feeds import ORDERS, SALES, Feed
from ingestion.file_sensing.planning import (
    BULK_DELIVERY_FILES,
    daily_candidates,
    daily_run_requests,
)
from ingestion.file_sensing.tick import Tick
from platform_shared.resources import LandingZone
from platform_shared.sensor_timing import EVERY_DAEMON_PASS

# On the path from a landing file to analytics: every pass of the sensor daemon. A tick
# lists one folder or prefix and hashes only changed files (milliseconds).
DAILY_FEED_INTERVAL_SECONDS = EVERY_DAEMON_PASS


def build_daily_feed_sensor(feed: Feed) -> dg.SensorDefinition:
    """A sensor requesting a run of ``feed`` per new or changed ``YYYY-MM-DD.csv``, or range
    runs for a backlog."""

    @dg.sensor(
        name=f"{feed.name}_file_sensor",
        job=jobs.daily_feeds_job,
        minimum_interval_seconds=DAILY_FEED_INTERVAL_SECONDS,
        # The local stack must load data without a click.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Loads each new or corrected {feed.folder}/YYYY-MM-DD.csv into its partition of "
            f"{feed.table_label}, once per distinct content; a backlog of more than "
            f"{BULK_DELIVERY_FILES} files loads as range runs."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        tick = Tick(context, landing.store, feed.key)
        deliveries = [
            delivery
            for candidate in daily_candidates(tick, feed)
            if (delivery := tick.observe(candidate)) is not None
        ]
        return tick.result(daily_run_requests(feed, deliveries))

    return _sensor


orders_file_sensor = build_daily_feed_sensor(ORDERS)
sales_file_sensor = build_daily_feed_sensor(SALES)
