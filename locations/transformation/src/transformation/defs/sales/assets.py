"""Daily sales models, built by SQL inside the warehouse from ingestion's fact tables.

No partition of the facts ever travels through Python. The assets take ranges: a run over
many days (a backfill launched as a single run, or a sensor's batched request) replaces
them all in one pass. ``regional_daily_sales`` is sales per day and customer region, in
``date_region_partitions``: a run replaces its block of days x regions, with two ops, the
first waiting for the sales models run of the same batch (whose enriched_sales it reads).
"""

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from platform_shared.metadata import committed_metadata, merge, table_metadata
from platform_shared.naming import table_name, write_scope
from platform_shared.partitions import REGIONS, daily_partitions, date_region_partitions
from platform_shared.resources import WarehouseResource
from platform_shared.validation import UnsafeInputError, parse_partition_date
from transformation.defs.sales import SQL
from transformation.defs.sales.batch import wait_for_sales_models
from transformation.defs.sales.checks import ENRICHED_SALES_CHECKS, enriched_sales_check_results
from transformation.keys import (
    CUSTOMERS,
    DAILY_MODEL_FRESHNESS,
    DAILY_SALES,
    ENRICHED_SALES,
    LOCATION,
    OWNERS,
    PRODUCTS,
    REGIONAL_DAILY_SALES,
    SALES,
    SALES_GROUP,
)
from transformation.metadata import (
    date_range,
    log_written,
    range_metadata,
    table_name_metadata,
)


def _daily_args(key: dg.AssetKey, partition_column: str) -> dict[str, Any]:
    return {
        "key_prefix": [LOCATION],
        "group_name": SALES_GROUP,
        "owners": OWNERS,
        "freshness_policy": DAILY_MODEL_FRESHNESS,
        "kinds": {"duckdb", "sql"},
        "partitions_def": daily_partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "metadata": {**table_name_metadata(key), "partition_expr": partition_column},
    }


@dg.asset(
    **_daily_args(ENRICHED_SALES, "sale_date"),
    # Three explicit upstream assets, Nothing-typed: the join runs inside DuckDB.
    ins={
        "sales": dg.AssetIn(key=SALES, dagster_type=dg.Nothing),
        "products": dg.AssetIn(key=PRODUCTS, dagster_type=dg.Nothing),
        "customers": dg.AssetIn(key=CUSTOMERS, dagster_type=dg.Nothing),
    },
    check_specs=ENRICHED_SALES_CHECKS,
)
def enriched_sales(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Every sale line with its product's name and category, its customer's region and its
    revenue (quantity x the line's unit price)."""
    first, last = date_range(context)
    table = table_name(ENRICHED_SALES)

    def replace(conn: duckdb.DuckDBPyConnection):
        SQL.create_table(conn, "enriched_sales")
        conn.execute(f"DELETE FROM {table} WHERE sale_date BETWEEN $1 AND $2", [first, last])
        conn.execute(SQL.query("enriched_sales.insert"), [first, last])
        metadata = range_metadata(conn, table, "sale_date", first, last, "sale_date, sale_id")
        return metadata, enriched_sales_check_results(conn, first, last)

    committed = warehouse.write(replace, what=write_scope(table, first, last))
    metadata, checks = committed.value
    log_written(context, table, metadata, first, last)
    return dg.MaterializeResult(
        metadata=merge(metadata, committed_metadata(committed)), check_results=checks
    )


@dg.asset(
    **_daily_args(DAILY_SALES, "date"),
    deps=[ENRICHED_SALES],
)
def daily_sales(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per day: distinct orders, units sold and revenue."""
    first, last = date_range(context)
    table = table_name(DAILY_SALES)

    def replace(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        SQL.create_table(conn, "daily_sales")
        conn.execute(f"DELETE FROM {table} WHERE date BETWEEN $1 AND $2", [first, last])
        conn.execute(SQL.query("daily_sales.insert"), [first, last])
        return range_metadata(conn, table, "date", first, last, "date")

    committed = warehouse.write(replace, what=write_scope(table, first, last))
    metadata = committed.value
    log_written(context, table, metadata, first, last)
    return dg.MaterializeResult(metadata=merge(metadata, committed_metadata(committed)))


@dg.op(
    ins={"ready": dg.In(dg.Nothing)},
    out=dg.Out(dg.Nothing),
    description="Replaces the run's days x regions of regional_daily_sales.",
)
def replace_regional_daily_sales(
    context: dg.OpExecutionContext, warehouse: WarehouseResource
) -> None:
    first, last, regions = _date_region_scope(context)
    table = table_name(REGIONAL_DAILY_SALES)
    scope = "date BETWEEN $1 AND $2 AND list_contains($3, region)"
    params = [first, last, regions]

    def replace(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        SQL.create_table(conn, "regional_daily_sales")
        conn.execute(f"DELETE FROM {table} WHERE {scope}", params)
        conn.execute(SQL.query("regional_daily_sales.insert"), params)
        metadata = table_metadata(
            conn,
            table,
            where=scope,
            params=params,
            order_by="date, region",
            table_preview=first == last and len(regions) == 1,
        )
        revenue = conn.execute(f"SELECT sum(revenue) FROM {table} WHERE {scope}", params)
        total = revenue.fetchone()
        metadata["revenue"] = dg.MetadataValue.float(float(total[0] or 0) if total else 0.0)
        return metadata

    committed = warehouse.write(
        replace, what=f"{write_scope(table, first, last)} regions {','.join(regions)}"
    )
    metadata = committed.value
    metadata["regions"] = dg.MetadataValue.json(regions)
    log_written(context, table, metadata, first, last)
    context.add_output_metadata(merge(metadata, committed_metadata(committed)))


@dg.graph_asset(
    key_prefix=[LOCATION],
    # Each date x region partition reads the date's partition of enriched_sales: Dagster
    # infers that mapping because the date dimension is the shared daily definition.
    ins={"enriched_sales": dg.AssetIn(key=ENRICHED_SALES, dagster_type=dg.Nothing)},
    partitions_def=date_region_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=SALES_GROUP,
    owners=OWNERS,
    kinds={"duckdb", "sql"},
    metadata={
        **table_name_metadata(REGIONAL_DAILY_SALES),
        "partition_expr": {"date": "date", "region": "region"},
    },
)
def regional_daily_sales(enriched_sales):
    """Per day and customer region: distinct orders, units sold and revenue.

    Two steps so that a run requested together with the sales models run of the same
    days can start at once and write once that run has committed.
    """
    return replace_regional_daily_sales(wait_for_sales_models(enriched_sales))


# graph_asset takes no freshness policy; the spec gets the daily models' one.
regional_daily_sales = regional_daily_sales.map_asset_specs(
    lambda spec: dg.apply_freshness_policy(spec, DAILY_MODEL_FRESHNESS)
)


def _date_region_scope(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
) -> tuple[dt.date, dt.date, list[str]]:
    """Days and regions of a date x region run.

    A run holds one key or a range of keys; Dagster expands a range between
    ``2025-01-01|US`` and ``2025-01-03|APAC`` into every date x region combination between
    its ends, so the keys grouped by dimension form a rectangle: consecutive days times a
    set of regions, which is what the SQL replaces.
    """
    dims = [
        date_region_partitions.get_partition_key_from_str(str(key)).keys_by_dimension
        for key in context.partition_keys
    ]
    unknown = {d["region"] for d in dims} - set(REGIONS)
    if unknown:
        raise UnsafeInputError(f"unknown regions in partition keys: {sorted(unknown)}")
    days = sorted({parse_partition_date(d["date"]) for d in dims})
    regions = [r for r in REGIONS if r in {d["region"] for d in dims}]
    consecutive = (days[-1] - days[0]).days + 1 == len(days)
    if not consecutive or len(dims) != len(days) * len(regions):
        raise dg.Failure(
            description=(
                f"{len(dims)} partition keys do not form consecutive days x regions; "
                "launch one run per block of days"
            ),
            allow_retries=False,
        )
    return days[0], days[-1], regions
