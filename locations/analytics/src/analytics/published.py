"""Every table this location publishes, in one sequence for code that iterates them."""

from analytics.defs.customers.customer_lifetime_value import customer_lifetime_value
from analytics.defs.reports.daily_revenue_report import daily_revenue_report
from analytics.defs.sales.sales_summary import sales_summary
from analytics.defs.sales.top_products import top_products

PUBLISHED_ASSETS = (sales_summary, top_products, customer_lifetime_value, daily_revenue_report)
