"""Upkeep of the whole lake: small files merged, old snapshots expired, their files removed.

Owned by ingestion because it writes most of the lake's files (every partition load and
re-delivery adds some), and its feeds set the quiet hour: after analytics' 02:30 report,
before the 06:00 fallback loads. The pass reaches every location's tables, but only their
storage: rows, table names and every snapshot within the retention stay as they are.
"""

import dagster as dg

from platform_shared.lake import Maintained, maintain
from platform_shared.resources import WarehouseResource
from platform_shared.settings import current


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


@dg.schedule(
    job=lake_maintenance_job,
    cron_schedule="0 4 * * *",
    # Read once when the location loads: schedules need their timezone at definition time.
    execution_timezone=current("PLATFORM_TIMEZONE"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def lake_maintenance_schedule() -> dg.RunRequest:
    """Every day at 04:00 (PLATFORM_TIMEZONE)."""
    return dg.RunRequest()
