"""Fails the location's runs whose run worker died with its code server, so they are retried."""

from ingestion.keys import LOCATION
from platform_shared.run_health import orphaned_runs_sensor

orphaned_runs = orphaned_runs_sensor(LOCATION)
