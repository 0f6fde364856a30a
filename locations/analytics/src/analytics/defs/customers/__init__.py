"""The customer marts (group ``analytics_customer_marts``); their SQL in ``sql/``."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
