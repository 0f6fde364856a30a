"""The analytics code location: published marts, reports, their jobs and triggers."""

import dagster as dg

from analytics.assets import PUBLISHED_ASSETS
from analytics.external import UPSTREAM_SPECS
from analytics.jobs import JOBS
from analytics.resources import platform_links
from analytics.schedules import SCHEDULES
from analytics.sensors import transformation_updates_sensor
from platform_shared.resources import export_folder, warehouse
from platform_shared.run_health import orphaned_runs_sensor

defs = dg.Definitions(
    assets=[*UPSTREAM_SPECS, *PUBLISHED_ASSETS],
    jobs=list(JOBS),
    schedules=list(SCHEDULES),
    sensors=[transformation_updates_sensor, orphaned_runs_sensor("analytics")],
    resources={"warehouse": warehouse(), "exports": export_folder(), "links": platform_links()},
    executor=dg.in_process_executor,
)
