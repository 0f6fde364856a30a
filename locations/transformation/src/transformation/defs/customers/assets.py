"""Customer models built from ingestion's customer snapshot and order history.

The small customer snapshot is read as a DataFrame through the pandas IO manager; the
order history stays in the warehouse and is aggregated by SQL.
"""

from typing import Any

import dagster as dg
import duckdb

from platform_shared.metadata import committed_metadata, markdown_table, merge, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import WarehouseResource
from transformation.defs.customers import SQL
from transformation.keys import (
    CUSTOMER_EMAILS,
    CUSTOMER_GROUP,
    CUSTOMER_ORDERS,
    CUSTOMERS,
    DAILY_MODEL_FRESHNESS,
    LOCATION,
    ORDERS,
    OWNERS,
    SNAPSHOT_MODEL_FRESHNESS,
    UPSTREAM_LOCATION,
)
from transformation.metadata import table_name_metadata

# A plausible address: one "@", no spaces, a dot in the domain.
_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


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
    freshness_policy=SNAPSHOT_MODEL_FRESHNESS,
    kinds={"duckdb", "pandas"},
    metadata=table_name_metadata(CUSTOMER_EMAILS),
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
    # Reads every day's orders: due with the daily models.
    freshness_policy=DAILY_MODEL_FRESHNESS,
    kinds={"duckdb", "sql"},
    metadata=table_name_metadata(CUSTOMER_ORDERS),
)
def customer_orders(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per customer: name, region, number of orders, first and last order time."""
    table = table_name(CUSTOMER_ORDERS)

    def rebuild(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        SQL.create_table(conn, "customer_orders")
        conn.execute(f"DELETE FROM {table}")
        conn.execute(SQL.query("customer_orders.insert"))
        metadata = table_metadata(conn, table, order_by="customer_id")
        without = conn.execute(f"SELECT count(*) FROM {table} WHERE order_count = 0").fetchone()
        metadata["customers_without_orders"] = dg.MetadataValue.int(without[0] if without else 0)
        return metadata

    committed = warehouse.write(rebuild, what=table)
    metadata = committed.value
    context.log.info(f"Rebuilt {table}: {metadata['dagster/row_count'].value} customers")
    return dg.MaterializeResult(metadata=merge(metadata, committed_metadata(committed)))
