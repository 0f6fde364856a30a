"""Keys of this location's assets and of the ingestion assets it reads, importable without
building any definition."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from platform_shared.naming import asset_key, group_name
from platform_shared.settings import current

LOCATION = "transformation"

CUSTOMER_EMAILS = asset_key(LOCATION, "customer_emails")
CUSTOMER_ORDERS = asset_key(LOCATION, "customer_orders")
ENRICHED_SALES = asset_key(LOCATION, "enriched_sales")
DAILY_SALES = asset_key(LOCATION, "daily_sales")
REGIONAL_DAILY_SALES = asset_key(LOCATION, "regional_daily_sales")

CUSTOMER_GROUP = group_name(LOCATION, "customers")
SALES_GROUP = group_name(LOCATION, "sales")
OWNERS = [f"team:{LOCATION}"]

# The models follow ingestion's feeds (loaded by 07:00) within the hour: by 08:00 each day,
# an hour before analytics' morning tables are due.
DAILY_MODEL_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 8 * * *",
    lower_bound_delta=dt.timedelta(hours=24),
    timezone=current("PLATFORM_TIMEZONE"),
)
# Models of the weekly customer snapshot: as fresh as the snapshot.
SNAPSHOT_MODEL_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=7), warn_window=dt.timedelta(days=3)
)

# Ingestion's tables, known here by key only (declared in ``defs/upstream.py``).
UPSTREAM_LOCATION = "ingestion"

CUSTOMERS = asset_key(UPSTREAM_LOCATION, "customers")
PRODUCTS = asset_key(UPSTREAM_LOCATION, "products")
ORDERS = asset_key(UPSTREAM_LOCATION, "orders")
SALES = asset_key(UPSTREAM_LOCATION, "sales")

UPSTREAM_KEYS = (CUSTOMERS, PRODUCTS, ORDERS, SALES)
