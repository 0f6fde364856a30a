"""Customer models, rebuilt from ingestion's customer snapshot and order history."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
