"""The sales marts (group ``analytics_sales_marts``); their SQL in ``sql/``."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
