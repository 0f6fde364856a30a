"""How the location's assets present themselves in the catalogue: groups, tags, owners,
freshness.

The asset keys are ``[LOCATION, <feed name>]``: each feed in :mod:`ingestion.feeds` has its
``key``.
"""

import datetime as dt

import dagster as dg

from platform_shared.naming import group_name
from platform_shared.settings import current

LOCATION = "ingestion"

RAW_GROUP = group_name(LOCATION, "raw_data")
REFERENCE_GROUP = group_name(LOCATION, "reference_data")
# Jobs select the daily feeds by this tag.
HIGH_PRIORITY = {"priority": "high"}
NORMAL_PRIORITY = {"priority": "normal"}

KINDS = {"duckdb", "csv"}
OWNERS = [f"team:{LOCATION}"]

# The delivery contract (README, "Landing-zone contract"), so a late feed shows as overdue
# here, where it starts. A day's files are loaded by 07:00: they are due by 06:00, when the
# fallback schedule loads yesterday's if no sensor did.
DAILY_FEED_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 7 * * *",
    lower_bound_delta=dt.timedelta(hours=24),
    timezone=current("PLATFORM_TIMEZONE"),
)
# Reference snapshots are re-delivered at least once a week.
REFERENCE_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=7), warn_window=dt.timedelta(days=3)
)
