"""The ingestion location's tables, declared here by asset key only.

These specs are not materializable in this location: ingestion owns them. Dagster merges
them with the owner's definitions in the global asset graph, so the UI shows one lineage
from ingestion through transformation. The daily facts reuse the shared partitions
definition, which lets Dagster map their partitions onto ours.
"""

from __future__ import annotations

import dagster as dg

from platform_shared.partitions import daily_partitions
from transformation.keys import CUSTOMERS, ORDERS, PRODUCTS, SALES

OWNED_BY = "Owned by the ingestion location"

customers = dg.AssetSpec(CUSTOMERS, description=f"{OWNED_BY}: customer snapshot.")
products = dg.AssetSpec(PRODUCTS, description=f"{OWNED_BY}: product catalogue snapshot.")
orders = dg.AssetSpec(
    ORDERS,
    description=f"{OWNED_BY}: orders, one daily partition per landing file.",
    partitions_def=daily_partitions,
    metadata={"partition_expr": "order_date"},
)
sales = dg.AssetSpec(
    SALES,
    description=f"{OWNED_BY}: sale lines, one daily partition per landing file.",
    partitions_def=daily_partitions,
    metadata={"partition_expr": "sale_date"},
)
