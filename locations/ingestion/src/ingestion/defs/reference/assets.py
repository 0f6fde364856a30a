"""``customers`` and ``products``: snapshots, each load replacing the whole table."""

from collections.abc import Iterator

import dagster as dg

from ingestion.catalog import KINDS, NORMAL_PRIORITY, OWNERS, REFERENCE_GROUP
from ingestion.feeds import CUSTOMERS, LOCATION, PRODUCTS
from ingestion.loads import LoadEvent, load_feed
from ingestion.quality import QualityConfig, reject_rate_spec
from platform_shared.resources import LandingZone, WarehouseResource


@dg.asset(
    key_prefix=[LOCATION],
    kinds=KINDS,
    owners=OWNERS,
    group_name=REFERENCE_GROUP,
    tags=NORMAL_PRIORITY,
    check_specs=[reject_rate_spec(CUSTOMERS)],
    metadata={"dagster/table_name": CUSTOMERS.table_label},
)
def customers(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingZone,
    quality: QualityConfig,
) -> Iterator[LoadEvent]:
    """Customer snapshot from ``customers.csv``; each load replaces the table.

    Rows with an invalid email (no ``@``), a region outside US/EU/APAC or a bad signup
    date are quarantined in ``ingestion.rejected_rows``.
    """
    yield from load_feed(context, CUSTOMERS, warehouse, landing, quality)


@dg.asset(
    key_prefix=[LOCATION],
    kinds=KINDS,
    owners=OWNERS,
    group_name=REFERENCE_GROUP,
    tags=NORMAL_PRIORITY,
    check_specs=[reject_rate_spec(PRODUCTS)],
    metadata={"dagster/table_name": PRODUCTS.table_label},
)
def products(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingZone,
    quality: QualityConfig,
) -> Iterator[LoadEvent]:
    """Product catalogue snapshot from ``products.csv``; each load replaces the table."""
    yield from load_feed(context, PRODUCTS, warehouse, landing, quality)
