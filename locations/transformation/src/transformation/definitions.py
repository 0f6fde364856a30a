"""The transformation location: clean models built from the ingestion location's tables."""

import dagster as dg

from platform_shared.resources import warehouse
from platform_shared.run_health import orphaned_runs_sensor
from transformation.assets import ASSETS
from transformation.external import UPSTREAM_SPECS
from transformation.io_managers import warehouse_io_manager
from transformation.jobs import JOBS
from transformation.sensors import SENSORS

defs = dg.Definitions(
    # Ingestion's tables come first as external specs: not materializable here.
    assets=[*UPSTREAM_SPECS, *ASSETS],
    jobs=JOBS,
    sensors=[*SENSORS, orphaned_runs_sensor("transformation")],
    resources={
        "warehouse": warehouse(),
        # DataFrames (customer_emails, and the snapshot it reads) live in the warehouse.
        "io_manager": warehouse_io_manager(),
    },
    # Run start-up dominates run cost on small hosts: every step runs in the run's process.
    executor=dg.in_process_executor,
)
