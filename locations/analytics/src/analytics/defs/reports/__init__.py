"""The reports (group ``analytics_reports``): tables published with files and a chart."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
