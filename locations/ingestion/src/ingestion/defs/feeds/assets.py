"""The landing feeds, each load one transaction that reports what it read and gates itself.

``customers`` and ``products`` are snapshots: each load replaces the whole table.
``orders`` and ``sales`` are daily partitions: each load replaces exactly the partitions of
the run (one file each), so a backfill of a range is a single run. Every load reports what
it read (file, content hash, rows, rejects) and gates itself with the blocking
reject-rate check.
"""

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
import duckdb

from ingestion.defs.feeds.file_loader import BadFileError, Target, batches, load_files, prepare
from ingestion.feeds import CUSTOMERS, ORDERS, PRODUCTS, SALES, Feed
from ingestion.keys import (
    DAILY_FEED_FRESHNESS,
    HIGH_PRIORITY,
    KINDS,
    LOCATION,
    NORMAL_PRIORITY,
    OWNERS,
    RAW_GROUP,
    REFERENCE_FRESHNESS,
    REFERENCE_GROUP,
)
from ingestion.metadata import FileLoad, compare_with_request, load_metadata, log_load, log_range
from ingestion.quality import QualityConfig, reject_rate_result, reject_rate_spec
from platform_shared.metadata import committed_metadata, table_metadata
from platform_shared.naming import write_scope
from platform_shared.partitions import daily_partitions
from platform_shared.resources import LandingZone, WarehouseResource
from platform_shared.storage import Store, StoredFile
from platform_shared.validation import UnsafeInputError

# What a load yields: its materialization, then its reject-rate check.
LoadEvent = dg.MaterializeResult | dg.AssetCheckResult


@dg.asset(
    key_prefix=[LOCATION],
    kinds=KINDS,
    owners=OWNERS,
    group_name=RAW_GROUP,
    tags=HIGH_PRIORITY,
    partitions_def=daily_partitions,
    freshness_policy=DAILY_FEED_FRESHNESS,
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
    freshness_policy=DAILY_FEED_FRESHNESS,
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


@dg.asset(
    key_prefix=[LOCATION],
    kinds=KINDS,
    owners=OWNERS,
    group_name=REFERENCE_GROUP,
    freshness_policy=REFERENCE_FRESHNESS,
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
    freshness_policy=REFERENCE_FRESHNESS,
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


def load_feed(
    context: dg.AssetExecutionContext,
    feed: Feed,
    warehouse: WarehouseResource,
    landing: LandingZone,
    quality: QualityConfig,
) -> Iterator[LoadEvent]:
    """Load the run's file(s) of ``feed`` in one transaction; report and gate the result.

    A run over a partition range loads one file per partition. A partition without a file
    fails a single-partition run; in a range it is skipped with a warning and keeps its
    current rows (a landing folder that was cleaned up must not empty the table).
    """
    threshold = quality.threshold  # a bad setting fails before anything is read
    keys: list[str | None] = list(context.partition_keys) if feed.is_daily else [None]
    targets, missing = _locate(context, feed, landing.store, keys)
    started = time.monotonic()
    rejected_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def load(conn: duckdb.DuckDBPyConnection) -> tuple[list[FileLoad], dict[str, Any]]:
        prepare(conn)
        loads: list[FileLoad] = []
        try:
            for batch in batches(targets):
                loads.extend(load_files(conn, feed, batch, rejected_at=rejected_at))
        except BadFileError as exc:
            context.log.error(str(exc))
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if feed.is_daily:
            first, last = min(k for k in keys if k), max(k for k in keys if k)
            where = f"{feed.partition_column} BETWEEN ?::DATE AND ?::DATE"
            table = table_metadata(
                conn, feed.table, where=where, params=[first, last], order_by=feed.columns[0]
            )
        else:
            table = table_metadata(conn, feed.table, order_by=feed.columns[0])
        return loads, table

    dated = sorted(k for k in keys if k)
    scope = write_scope(feed.table, dated[0], dated[-1]) if dated else feed.table
    committed = warehouse.write(load, what=scope)
    loads, table = committed.value
    duration = time.monotonic() - started

    if len(loads) == 1:
        log_load(context, feed, loads[0])
    else:
        log_range(context, feed, loads)
    compare_with_request(context, loads)
    metadata = {
        **load_metadata(feed, loads, missing, table, duration),
        **committed_metadata(committed),
    }
    yield dg.MaterializeResult(metadata=metadata)
    yield reject_rate_result(feed, loads, threshold)


def _locate(
    context: dg.AssetExecutionContext, feed: Feed, store: Store, keys: Sequence[str | None]
) -> tuple[list[Target], list[str]]:
    """The run's files, their names checked before any file, object or SQL access; one
    listing finds them all (a range of a year is one request to a bucket, not 365)."""
    targets: list[Target] = []
    missing: list[str] = []
    listed: dict[str, StoredFile] | None = None
    for key in keys:
        try:
            relative = feed.relative_path(key)
            store.check(relative)
        except UnsafeInputError as exc:
            context.log.error(f"Refusing to load {feed.name}: {exc}")
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if listed is None:
            listed = {f.name: f for f in store.list(feed.folder or "")}
        file = listed.get(relative)
        if file is not None and file.is_file:
            targets.append(Target(key, relative, store.reference(relative), file.size))
        else:
            missing.append(relative)
    if missing and not targets:
        message = f"Landing file missing: {', '.join(missing)}"
        context.log.error(message)
        raise dg.Failure(description=message, allow_retries=False)
    if missing:
        context.log.warning(
            f"{len(missing)} of {len(keys)} partitions have no landing file and keep their "
            f"current rows: {', '.join(missing)}"
        )
    return targets, missing
