"""The location's resources: bound to every job, not definitions of their own."""

from ingestion.quality import QualityConfig
from platform_shared.resources import landing_zone, warehouse
from platform_shared.settings import env

RESOURCES = {
    "warehouse": warehouse(),
    "landing": landing_zone(),
    "quality": QualityConfig(reject_rate_threshold=env("REJECT_RATE_THRESHOLD")),
}
