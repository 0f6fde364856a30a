"""Jobs of the ingestion location: one per kind of feed, and the lake's daily upkeep."""

import dagster as dg

from ingestion.keys import REFERENCE_GROUP
from platform_shared.lake import Maintained, maintain
from platform_shared.resources import WarehouseResource
from platform_shared.settings import current

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


# Upkeep of the whole lake: small files merged, old snapshots expired, their files removed.
# Owned by ingestion because it writes most of the lake's files (every partition load and
# re-delivery adds some); the pass reaches every location's tables, but only their
# storage: rows, table names and every snapshot within the retention stay as they are.
@dg.op(
    description=(
        "Merges the lake's small Parquet files, expires snapshots older than "
        "WAREHOUSE_SNAPSHOT_RETENTION and deletes the files only those snapshots read."
    ),
)
def maintain_lake(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    retention = current("WAREHOUSE_SNAPSHOT_RETENTION")

    def one_pass() -> Maintained:
        with warehouse.get_connection() as conn:
            return maintain(conn, retention=retention)

    # A merge that meets a concurrent replace of the same table conflicts and runs again,
    # like any other write.
    done = warehouse.retry(one_pass, what="lake maintenance")
    context.log.info(
        f"Lake maintenance (retention {retention}): {done.files_merged} files merged into "
        f"{done.files_written}, {done.snapshots_expired} snapshots expired, "
        f"{done.files_deleted} files deleted"
    )


@dg.job(description="Merge small files, expire old snapshots and delete their files, lake-wide.")
def lake_maintenance_job() -> None:
    maintain_lake()
