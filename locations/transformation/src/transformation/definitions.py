"""The transformation location: clean models built from the ingestion location's tables."""

import dagster as dg

from platform_shared.defs_folder import load_defs_folder
from transformation import defs as defs_package
from transformation.resources import RESOURCES

defs = dg.Definitions.merge(
    load_defs_folder(defs_package),
    # Run start-up dominates run cost on small hosts: every step runs in the run's process.
    dg.Definitions(resources=RESOURCES, executor=dg.in_process_executor),
)
