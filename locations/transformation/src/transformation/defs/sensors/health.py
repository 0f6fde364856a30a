"""Fails the location's runs whose run worker died with its code server, so they are retried."""

from platform_shared.run_health import orphaned_runs_sensor
from transformation.keys import LOCATION

orphaned_runs = orphaned_runs_sensor(LOCATION)
