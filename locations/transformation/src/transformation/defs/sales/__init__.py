"""Sales models: sale lines enriched and checked, then per day and per day x region."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
