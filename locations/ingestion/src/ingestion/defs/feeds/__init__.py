"""The landing feeds: daily orders and sale lines, reference customers and products."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
