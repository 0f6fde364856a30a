"""Jobs the sensors launch; each covers assets of one partitions definition.

A run processes one partition range, and a range is read in the partitions definition of
every asset of the run, so daily assets and date x region assets cannot share a run:
their ranges are requested as separate runs of separate jobs.
"""

from __future__ import annotations

import dagster as dg

from transformation.keys import (
    CUSTOMER_EMAILS,
    CUSTOMER_ORDERS,
    DAILY_SALES,
    ENRICHED_SALES,
    REGIONAL_DAILY_SALES,
)

sales_models_job = dg.define_asset_job(
    name="sales_models_job",
    selection=dg.AssetSelection.assets(ENRICHED_SALES, DAILY_SALES),
    description="Rebuild enriched_sales and daily_sales for a range of days.",
)

regional_sales_job = dg.define_asset_job(
    name="regional_sales_job",
    selection=dg.AssetSelection.assets(REGIONAL_DAILY_SALES),
    description="Rebuild regional_daily_sales for a block of days x regions.",
)

customer_models_job = dg.define_asset_job(
    name="customer_models_job",
    selection=dg.AssetSelection.assets(CUSTOMER_EMAILS, CUSTOMER_ORDERS),
    description="Rebuild the customer models from the current snapshot and order history.",
)
