"""How the location's assets present themselves in the catalogue: groups, tags, owners.

The asset keys are ``[LOCATION, <feed name>]``: each feed in :mod:`ingestion.feeds` has its
``key``.
"""

from platform_shared.naming import group_name

LOCATION = "ingestion"

RAW_GROUP = group_name(LOCATION, "raw_data")
REFERENCE_GROUP = group_name(LOCATION, "reference_data")
# Jobs select the daily feeds by this tag.
HIGH_PRIORITY = {"priority": "high"}
NORMAL_PRIORITY = {"priority": "normal"}

KINDS = {"duckdb", "csv"}
OWNERS = [f"team:{LOCATION}"]
