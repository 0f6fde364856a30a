"""Run health: fails this location's runs whose worker process is gone."""

from platform_shared import run_health

orphaned_runs_sensor = run_health.orphaned_runs_sensor("analytics")
