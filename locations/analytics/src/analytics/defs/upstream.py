"""Transformation's tables, declared here by key only so lineage crosses locations.

These specs are not materializable in this location: the transformation location owns
them. Dagster merges them with the owner's definitions in the global asset graph, so
the UI shows ingestion → transformation → analytics as one lineage. Partitions repeat
the owner's definitions (the shared objects) so partition-aware views agree.
"""

from __future__ import annotations

import dagster as dg

from platform_shared.naming import asset_key
from platform_shared.partitions import daily_partitions, date_region_partitions

UPSTREAM_LOCATION = "transformation"

ENRICHED_SALES = asset_key(UPSTREAM_LOCATION, "enriched_sales")
REGIONAL_DAILY_SALES = asset_key(UPSTREAM_LOCATION, "regional_daily_sales")
CUSTOMER_ORDERS = asset_key(UPSTREAM_LOCATION, "customer_orders")

enriched_sales = dg.AssetSpec(
    ENRICHED_SALES,
    description="Sale lines joined with product and customer attributes (transformation).",
    partitions_def=daily_partitions,
    metadata={"partition_expr": "sale_date"},
)
regional_daily_sales = dg.AssetSpec(
    REGIONAL_DAILY_SALES,
    description="Orders, units and revenue per date and region (transformation).",
    partitions_def=date_region_partitions,
)
customer_orders = dg.AssetSpec(
    CUSTOMER_ORDERS,
    description="Per customer: order count and first/last order time (transformation).",
)
