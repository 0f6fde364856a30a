"""Sales models: sale lines enriched and checked, then per day and per day x region."""

from transformation.queries import SqlFolder

SQL = SqlFolder(__name__)
