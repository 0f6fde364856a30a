"""The analytics code location: published marts, reports, their jobs and triggers."""

import dagster as dg

from analytics import defs as defs_package
from analytics.resources import RESOURCES
from platform_shared.defs_folder import load_defs_folder

defs = dg.Definitions.merge(
    load_defs_folder(defs_package),
    dg.Definitions(resources=RESOURCES, executor=dg.in_process_executor),
)
