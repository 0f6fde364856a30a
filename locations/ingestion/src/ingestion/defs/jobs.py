"""Jobs of the ingestion location: one per kind of feed."""

from __future__ import annotations

import dagster as dg

from ingestion.catalog import REFERENCE_GROUP

# Selected by tag: every high-priority ingestion asset is a daily feed. The file sensors
# run one asset and one partition of it per request; the fallback schedule runs both.
daily_feeds_job = dg.define_asset_job(
    name="daily_feeds_job",
    selection=dg.AssetSelection.tag("priority", "high"),
    description="Load daily landing files (orders, sales) into their partitions.",
)

# Selected by group: the reference snapshots.
reference_data_job = dg.define_asset_job(
    name="reference_data_job",
    selection=dg.AssetSelection.groups(REFERENCE_GROUP),
    description="Reload the reference snapshots (customers, products).",
)
