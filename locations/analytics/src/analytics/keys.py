"""What the published tables share: keys, groups, tags, owners and freshness timezone.

Jobs, schedules and sensors select the tables by these names, so they live outside the
asset modules and import nothing from ``defs``.
"""

import dagster as dg

from platform_shared.naming import group_name
from platform_shared.settings import current

SCHEMA = "analytics"

SALES_MARTS = group_name(SCHEMA, "sales_marts")
CUSTOMER_MARTS = group_name(SCHEMA, "customer_marts")
REPORTS = group_name(SCHEMA, "reports")

SALES_SUMMARY = dg.AssetKey([SCHEMA, "sales_summary"])
TOP_PRODUCTS = dg.AssetKey([SCHEMA, "top_products"])
CUSTOMER_LIFETIME_VALUE = dg.AssetKey([SCHEMA, "customer_lifetime_value"])
DAILY_REVENUE_REPORT = dg.AssetKey([SCHEMA, "daily_revenue_report"])

# Business-critical: the morning numbers people act on. Jobs select them by this tag.
HIGH_PRIORITY = {"priority": "high"}
OWNERS = ["team:analytics"]
TIMEZONE = current("PLATFORM_TIMEZONE")
