"""Keys, groups, tags and owners of the published tables, and their freshness timezone.

Jobs, schedules and sensors select the tables by these names, so they live outside the
asset modules and import nothing from ``defs``.
"""

from platform_shared.naming import asset_key, group_name
from platform_shared.settings import current

LOCATION = "analytics"

SALES_MARTS = group_name(LOCATION, "sales_marts")
CUSTOMER_MARTS = group_name(LOCATION, "customer_marts")
REPORTS = group_name(LOCATION, "reports")

SALES_SUMMARY = asset_key(LOCATION, "sales_summary")
TOP_PRODUCTS = asset_key(LOCATION, "top_products")
CUSTOMER_LIFETIME_VALUE = asset_key(LOCATION, "customer_lifetime_value")
DAILY_REVENUE_REPORT = asset_key(LOCATION, "daily_revenue_report")

# Business-critical: the morning numbers people act on. Jobs select them by this tag.
HIGH_PRIORITY = {"priority": "high"}
OWNERS = [f"team:{LOCATION}"]
TIMEZONE = current("PLATFORM_TIMEZONE")
