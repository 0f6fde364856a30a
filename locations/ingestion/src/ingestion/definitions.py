"""The ingestion code location: landing files into the ``ingestion`` warehouse schema."""

import dagster as dg

from ingestion.assets import customers, orders, products, sales
from ingestion.checks import QualityConfig
from ingestion.jobs import daily_feeds_job, reference_data_job
from ingestion.schedules import daily_feeds_fallback_schedule
from ingestion.sensors import orders_file_sensor, reference_files_sensor, sales_file_sensor
from platform_shared.resources import landing_zone, warehouse
from platform_shared.run_health import orphaned_runs_sensor
from platform_shared.settings import env

defs = dg.Definitions(
    assets=[customers, products, orders, sales],
    jobs=[daily_feeds_job, reference_data_job],
    sensors=[
        orders_file_sensor,
        sales_file_sensor,
        reference_files_sensor,
        orphaned_runs_sensor("ingestion"),
    ],
    schedules=[daily_feeds_fallback_schedule],
    resources={
        "warehouse": warehouse(),
        "landing": landing_zone(),
        "quality": QualityConfig(reject_rate_threshold=env("REJECT_RATE_THRESHOLD")),
    },
    executor=dg.in_process_executor,
)
