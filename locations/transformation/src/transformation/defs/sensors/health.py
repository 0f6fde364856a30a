"""The location's operational sensors (platform_shared.run_health, platform_shared.alerts):
fail runs whose worker died with its code server so they are retried, and tell this
team's owners about failed runs and overdue tables."""

from platform_shared.alerts import freshness_alerts_sensor, run_failure_alerts_sensor
from platform_shared.run_health import orphaned_runs_sensor
from transformation.keys import LOCATION, OWNERS

orphaned_runs = orphaned_runs_sensor(LOCATION)
run_failure_alerts = run_failure_alerts_sensor(LOCATION, OWNERS)
freshness_alerts = freshness_alerts_sensor(LOCATION)
