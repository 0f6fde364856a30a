"""Partitions definitions shared by every location.

One object per definition, imported everywhere: Dagster maps partitions across
locations (and infers the date dimension of a multi-partitioned asset) only when the
definitions are equal.
"""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

PARTITIONS_START_DATE = "2024-01-01"
REGIONS = ("US", "EU", "APAC")

daily_partitions = DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE)
region_partitions = StaticPartitionsDefinition(list(REGIONS))
date_region_partitions = MultiPartitionsDefinition(
    {"date": daily_partitions, "region": region_partitions}
)


def date_region_key(date: str, region: str) -> MultiPartitionKey:
    return MultiPartitionKey({"date": date, "region": region})
