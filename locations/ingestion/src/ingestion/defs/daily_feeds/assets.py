"""``orders`` and ``sales``: daily partitions, each load replacing exactly its run's days."""

from collections.abc import Iterator

import dagster as dg

from ingestion.catalog import HIGH_PRIORITY, KINDS, OWNERS, RAW_GROUP
from ingestion.feeds import LOCATION, ORDERS, SALES
from ingestion.loads import LoadEvent, load_feed
from ingestion.quality import QualityConfig, reject_rate_spec
from platform_shared.partitions import daily_partitions
from platform_shared.resources import LandingZone, WarehouseResource


@dg.asset(
    key_prefix=[LOCATION],
    kinds=KINDS,
    owners=OWNERS,
    group_name=RAW_GROUP,
    tags=HIGH_PRIORITY,
    partitions_def=daily_partitions,
    # A backfill of a range is one run that loads one file per partition.
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[reject_rate_spec(ORDERS)],
    metadata={"dagster/table_name": ORDERS.table_label, "partition_expr": ORDERS.partition_column},
)
def orders(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingZone,
    quality: QualityConfig,
) -> Iterator[LoadEvent]:
    """Orders of one day from ``orders/YYYY-MM-DD.csv``; ``order_date`` is the file's date."""
    yield from load_feed(context, ORDERS, warehouse, landing, quality)


@dg.asset(
    key_prefix=[LOCATION],
    kinds=KINDS,
    owners=OWNERS,
    group_name=RAW_GROUP,
    tags=HIGH_PRIORITY,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[reject_rate_spec(SALES)],
    metadata={"dagster/table_name": SALES.table_label, "partition_expr": SALES.partition_column},
)
def sales(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingZone,
    quality: QualityConfig,
) -> Iterator[LoadEvent]:
    """Sale lines of one day from ``sales/YYYY-MM-DD.csv``; ``sale_date`` is the file's date.

    Lines with a quantity that is not positive, a negative price, a missing id or an
    unparseable timestamp are quarantined in ``ingestion.rejected_rows``.
    """
    yield from load_feed(context, SALES, warehouse, landing, quality)
