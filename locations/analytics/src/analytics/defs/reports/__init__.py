"""The reports (group ``analytics_reports``): tables published with files and a chart."""
