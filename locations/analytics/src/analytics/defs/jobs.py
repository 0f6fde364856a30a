"""Jobs of the analytics location, one per way of selecting assets.

A job can only select assets of its own location: it runs in this location's code
server. Refreshes that span teams compose through sensors (see :mod:`analytics.defs.sensors`)
or declarative automation, never through a job naming another team's assets.
"""

from __future__ import annotations

import dagster as dg

from analytics.defs.upstream import ENRICHED_SALES
from analytics.keys import (
    CUSTOMER_LIFETIME_VALUE,
    DAILY_REVENUE_REPORT,
    REPORTS,
    SALES_MARTS,
    SALES_SUMMARY,
    TOP_PRODUCTS,
)

# Explicit assets: every published table. What the upstream sensor requests when
# transformation's outputs change, and the weekly full rebuild.
analytics_refresh_job = dg.define_asset_job(
    name="analytics_refresh_job",
    selection=dg.AssetSelection.assets(
        SALES_SUMMARY, TOP_PRODUCTS, CUSTOMER_LIFETIME_VALUE, DAILY_REVENUE_REPORT
    ),
    description="Rebuild every published analytics table, report and export.",
)

# By group: the reports group, run with a ReportConfig for a chosen day or month.
reports_job = dg.define_asset_job(
    name="reports_job",
    selection=dg.AssetSelection.groups(REPORTS),
    description="Build the daily revenue report (chart, table, Parquet) for a window.",
)

# By tag: what business users act on first thing in the morning.
business_critical_job = dg.define_asset_job(
    name="business_critical_job",
    selection=dg.AssetSelection.tag("priority", "high"),
    description="Refresh the business-critical tables (tag priority=high).",
)

# Union of groups: what the sales team's dashboards read (marts and the revenue report).
sales_dashboards_job = dg.define_asset_job(
    name="sales_dashboards_job",
    selection=dg.AssetSelection.groups(SALES_MARTS) | dg.AssetSelection.groups(REPORTS),
    description="Refresh the sales marts and the revenue report behind the sales dashboards.",
)

# Everything downstream of an asset: after transformation restates sale lines (late
# corrections, a backfill), rebuild exactly what is derived from them here. The
# upstream asset itself is excluded: this location cannot materialize it.
sale_lines_rebuild_job = dg.define_asset_job(
    name="sale_lines_rebuild_job",
    selection=dg.AssetSelection.assets(ENRICHED_SALES).downstream(include_self=False),
    description="Rebuild every analytics table derived from transformation's enriched_sales.",
)
