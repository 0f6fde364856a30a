"""Clean models built from the ingestion location's tables.

The small customer snapshot is read as a DataFrame through the pandas IO manager;
everything built from the fact tables (orders, sales) is SQL inside the warehouse, so
no partition of them ever travels through Python. Each write replaces exactly what the
run covers (the whole table, or the run's partitions) with a DELETE and an INSERT in one
transaction, so a rerun or an overlapping backfill converges on the same rows.

Partitioned assets take ranges: a run over many days (a backfill launched as a single
run, or a sensor's batched request) replaces them all in one pass.
"""

import datetime as dt
import time
from typing import Any

import dagster as dg
import duckdb

from platform_shared.metadata import markdown_table, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.partitions import REGIONS, daily_partitions, date_region_partitions
from platform_shared.resources import WAREHOUSE_POOL, WarehouseResource
from platform_shared.validation import UnsafeInputError, parse_partition_date
from transformation.checks import ENRICHED_SALES_CHECKS, enriched_sales_check_results
from transformation.external import CUSTOMERS, ORDERS, PRODUCTS, SALES, UPSTREAM_LOCATION
from transformation.keys import (
    CUSTOMER_EMAILS,
    CUSTOMER_GROUP,
    CUSTOMER_ORDERS,
    DAILY_SALES,
    ENRICHED_SALES,
    LOCATION,
    OWNERS,
    REGIONAL_DAILY_SALES,
    SALES_GROUP,
)
from transformation.queries import create_table, query

# A plausible address: one "@", no spaces, a dot in the domain.
_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


def _table_metadata(key: dg.AssetKey) -> dict[str, Any]:
    return {"dagster/table_name": f"{key.path[0]}.{key.path[1]}"}


def _daily_args(key: dg.AssetKey, partition_column: str) -> dict[str, Any]:
    return {
        "key_prefix": [LOCATION],
        "group_name": SALES_GROUP,
        "owners": OWNERS,
        "kinds": {"duckdb", "sql"},
        "pool": WAREHOUSE_POOL,
        "partitions_def": daily_partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "metadata": {**_table_metadata(key), "partition_expr": partition_column},
    }


@dg.asset(
    key_prefix=[LOCATION],
    # Dependency by parameter name: an input without an explicit key resolves to its
    # AssetIn's key_prefix followed by the parameter name, here ["ingestion", "customers"].
    # Left bare, the parameter would name ["customers"], an asset no location defines.
    # The IO manager reads only the listed columns.
    ins={
        "customers": dg.AssetIn(
            key_prefix=[UPSTREAM_LOCATION], metadata={"columns": ["customer_id", "email"]}
        )
    },
    group_name=CUSTOMER_GROUP,
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    pool=WAREHOUSE_POOL,
    metadata=_table_metadata(CUSTOMER_EMAILS),
)
def customer_emails(context: dg.AssetExecutionContext, customers):
    """Contact address of every customer: trimmed, lower-cased, with its domain.

    Customers without a plausible address are left out and counted in the metadata. The
    pandas IO manager loads the snapshot and replaces ``transformation.customer_emails``.
    """
    # Typed by the IO manager (a DataFrame in, a DataFrame out) rather than by annotations:
    # Dagster resolves annotations when the location loads, and pandas would then be
    # imported by every process of the location, not only by the runs that use it.
    import pandas as pd

    emails = customers["email"].astype("string").str.strip().str.lower()
    valid = emails.str.fullmatch(_EMAIL).fillna(False).astype(bool)
    result = (
        pd.DataFrame(
            {
                "customer_id": customers.loc[valid, "customer_id"].astype("int64"),
                "email": emails[valid],
                "email_domain": emails[valid].str.split("@").str[1],
            }
        )
        .sort_values("customer_id")
        .reset_index(drop=True)
    )
    top = result["email_domain"].value_counts().head(5)
    context.add_output_metadata(
        {
            "excluded_customers": dg.MetadataValue.int(int((~valid).sum())),
            "domains": dg.MetadataValue.int(int(result["email_domain"].nunique())),
            "top_domains": dg.MetadataValue.md(
                markdown_table(["email_domain", "customers"], list(top.items()))
            ),
        }
    )
    return result


@dg.asset(
    key_prefix=[LOCATION],
    # Explicit dependencies. Nothing-typed: nothing is loaded into Python, the SQL reads
    # both tables in the warehouse (all partitions of orders, without a DataFrame).
    ins={
        "customers": dg.AssetIn(key=CUSTOMERS, dagster_type=dg.Nothing),
        "orders": dg.AssetIn(key=ORDERS, dagster_type=dg.Nothing),
    },
    group_name=CUSTOMER_GROUP,
    owners=OWNERS,
    kinds={"duckdb", "sql"},
    pool=WAREHOUSE_POOL,
    metadata=_table_metadata(CUSTOMER_ORDERS),
)
def customer_orders(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per customer: name, region, number of orders, first and last order time."""
    table = table_name(CUSTOMER_ORDERS)
    with warehouse.transaction() as conn:
        create_table(conn, "customer_orders")
        conn.execute(f"DELETE FROM {table}")
        conn.execute(query("customer_orders.insert"))
    with warehouse.get_connection() as conn:
        metadata = table_metadata(conn, table, order_by="customer_id")
        without = conn.execute(f"SELECT count(*) FROM {table} WHERE order_count = 0").fetchone()
    context.log.info(f"Rebuilt {table}: {metadata['dagster/row_count'].value} customers")
    return dg.MaterializeResult(
        metadata=merge(
            metadata,
            {"customers_without_orders": dg.MetadataValue.int(without[0] if without else 0)},
        )
    )


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
    first, last = _date_range(context)
    table = table_name(ENRICHED_SALES)
    with warehouse.transaction() as conn:
        create_table(conn, "enriched_sales")
        conn.execute(f"DELETE FROM {table} WHERE sale_date BETWEEN $1 AND $2", [first, last])
        conn.execute(query("enriched_sales.insert"), [first, last])
    with warehouse.get_connection() as conn:
        metadata = _range_metadata(conn, table, "sale_date", first, last, "sale_date, sale_id")
        checks = enriched_sales_check_results(conn, first, last)
    _log_written(context, table, metadata, first, last)
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


@dg.asset(
    **_daily_args(DAILY_SALES, "date"),
    deps=[ENRICHED_SALES],
)
def daily_sales(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per day: distinct orders, units sold and revenue."""
    first, last = _date_range(context)
    table = table_name(DAILY_SALES)
    with warehouse.transaction() as conn:
        create_table(conn, "daily_sales")
        conn.execute(f"DELETE FROM {table} WHERE date BETWEEN $1 AND $2", [first, last])
        conn.execute(query("daily_sales.insert"), [first, last])
    with warehouse.get_connection() as conn:
        metadata = _range_metadata(conn, table, "date", first, last, "date")
    _log_written(context, table, metadata, first, last)
    return dg.MaterializeResult(metadata=metadata)


# Runs of sales_models_job and regional_sales_job requested together for the same days
# share this tag's value: the regional run writes only after its sales models run.
SALES_BATCH_TAG = "transformation/sales_batch"
SIBLING_TIMEOUT_SECONDS = 3600
_SIBLING_POLL_SECONDS = 0.25


@dg.op(
    ins={"enriched_sales": dg.In(dg.Nothing)},
    out=dg.Out(dg.Nothing, is_required=False),
    description=(
        "Waits for the sales models run requested together with this run (if any), "
        "without holding the warehouse; outputs nothing if that run did not succeed."
    ),
)
def wait_for_sales_models(context: dg.OpExecutionContext):
    batch = context.run.tags.get(SALES_BATCH_TAG)
    if batch is None:  # launched on its own (UI, backfill): enriched_sales is in place
        yield dg.Output(None)
        return
    deadline = time.monotonic() + SIBLING_TIMEOUT_SECONDS
    while True:
        # The sibling and its retries, if its process died: one success is enough.
        siblings = [
            run
            for run in context.instance.get_runs(dg.RunsFilter(tags={SALES_BATCH_TAG: batch}))
            if run.run_id != context.run_id and run.job_name == "sales_models_job"
        ]
        if not siblings:
            raise dg.Failure(f"No sales_models_job run carries {SALES_BATCH_TAG}={batch}")
        if any(run.status == dg.DagsterRunStatus.SUCCESS for run in siblings):
            yield dg.Output(None)
            return
        if all(run.is_finished for run in siblings):
            # Failed, or a blocking check on enriched_sales failed: nothing to aggregate.
            context.log.warning(
                f"Not rebuilding regional_daily_sales: sales models run(s) "
                f"{', '.join(r.run_id for r in siblings)} did not succeed"
            )
            return
        if time.monotonic() > deadline:
            raise dg.Failure(
                f"Sales models run(s) of batch {batch} unfinished after {SIBLING_TIMEOUT_SECONDS} s"
            )
        time.sleep(_SIBLING_POLL_SECONDS)


@dg.op(
    ins={"ready": dg.In(dg.Nothing)},
    out=dg.Out(dg.Nothing),
    pool=WAREHOUSE_POOL,
    description="Replaces the run's days x regions of regional_daily_sales.",
)
def replace_regional_daily_sales(
    context: dg.OpExecutionContext, warehouse: WarehouseResource
) -> None:
    first, last, regions = _date_region_scope(context)
    table = table_name(REGIONAL_DAILY_SALES)
    scope = "date BETWEEN $1 AND $2 AND list_contains($3, region)"
    params = [first, last, regions]
    with warehouse.transaction() as conn:
        create_table(conn, "regional_daily_sales")
        conn.execute(f"DELETE FROM {table} WHERE {scope}", params)
        conn.execute(query("regional_daily_sales.insert"), params)
    with warehouse.get_connection() as conn:
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
    metadata["regions"] = dg.MetadataValue.json(regions)
    _log_written(context, table, metadata, first, last)
    context.add_output_metadata(metadata)


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
        **_table_metadata(REGIONAL_DAILY_SALES),
        "partition_expr": {"date": "date", "region": "region"},
    },
)
def regional_daily_sales(enriched_sales):
    """Per day and customer region: distinct orders, units sold and revenue.

    Two steps so that a run requested together with the sales models run of the same
    days can start at once and wait for it without holding the warehouse slot.
    """
    return replace_regional_daily_sales(wait_for_sales_models(enriched_sales))


def _date_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """First and last day of the run: one partition or a range, validated as dates."""
    key_range = context.partition_key_range
    return parse_partition_date(key_range.start), parse_partition_date(key_range.end)


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


def _range_metadata(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    first: dt.date,
    last: dt.date,
    order_by: str,
) -> dict[str, Any]:
    """Row count, revenue, schema and preview of the run's days.

    Dagster copies a range run's metadata onto every partition's event, so a range keeps
    the markdown preview and leaves out the table-typed one (the same rows again, with
    their schema: 40% of each event's size). A single-partition run has both.
    """
    where = f"{column} BETWEEN $1 AND $2"
    metadata = table_metadata(
        conn,
        table,
        where=where,
        params=[first, last],
        order_by=order_by,
        table_preview=first == last,
    )
    total = conn.execute(f"SELECT sum(revenue) FROM {table} WHERE {where}", [first, last])
    row = total.fetchone()
    metadata["revenue"] = dg.MetadataValue.float(float(row[0] or 0) if row else 0.0)
    return metadata


def _log_written(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    table: str,
    metadata: dict[str, Any],
    first: dt.date,
    last: dt.date,
) -> None:
    days = (last - first).days + 1
    context.log.info(
        f"Replaced {table} for {first}..{last} ({days} day{'s' if days > 1 else ''}): "
        f"{metadata['dagster/row_count'].value} rows"
    )


ASSETS = [customer_emails, customer_orders, enriched_sales, daily_sales, regional_daily_sales]
