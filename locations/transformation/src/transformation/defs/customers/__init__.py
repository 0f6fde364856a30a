"""Customer models, rebuilt from ingestion's customer snapshot and order history."""

from transformation.queries import SqlFolder

SQL = SqlFolder(__name__)
