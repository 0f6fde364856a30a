"""The ingestion code location: landing files into the ``ingestion`` warehouse schema."""

import dagster as dg

from ingestion import defs as defs_package
from ingestion.resources import RESOURCES
from platform_shared.defs_folder import load_defs_folder

defs = dg.Definitions.merge(
    load_defs_folder(defs_package),
    # Run start-up dominates run cost on small hosts: every step runs in the run's process.
    dg.Definitions(resources=RESOURCES, executor=dg.in_process_executor),
)
