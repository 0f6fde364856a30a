"""Keys of this location's assets and of the ingestion assets it reads, importable without
building any definition."""

from __future__ import annotations

from platform_shared.naming import asset_key, group_name

LOCATION = "transformation"

CUSTOMER_EMAILS = asset_key(LOCATION, "customer_emails")
CUSTOMER_ORDERS = asset_key(LOCATION, "customer_orders")
ENRICHED_SALES = asset_key(LOCATION, "enriched_sales")
DAILY_SALES = asset_key(LOCATION, "daily_sales")
REGIONAL_DAILY_SALES = asset_key(LOCATION, "regional_daily_sales")

CUSTOMER_GROUP = group_name(LOCATION, "customers")
SALES_GROUP = group_name(LOCATION, "sales")
OWNERS = [f"team:{LOCATION}"]

# Ingestion's tables, known here by key only (declared in ``defs/upstream.py``).
UPSTREAM_LOCATION = "ingestion"

CUSTOMERS = asset_key(UPSTREAM_LOCATION, "customers")
PRODUCTS = asset_key(UPSTREAM_LOCATION, "products")
ORDERS = asset_key(UPSTREAM_LOCATION, "orders")
SALES = asset_key(UPSTREAM_LOCATION, "sales")

UPSTREAM_KEYS = (CUSTOMERS, PRODUCTS, ORDERS, SALES)
