"""The blocking quality gate of every load: the share of rejected lines per file.

The check is declared on the asset (``check_specs``) and evaluated by the load itself from
the counts it just produced, so it costs no second pass over the warehouse. Blocking:
when it fails, nothing downstream in the same run executes, and other locations' sensors
skip the run's materializations (``platform_shared.cross_location.usable_records``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from ingestion.feeds import Feed
from ingestion.metadata import FileLoad
from platform_shared.settings import default

REJECT_RATE_CHECK = "reject_rate_within_threshold"


class QualityConfig(dg.ConfigurableResource):
    """Thresholds of the ingestion quality gate.

    The threshold is text because settings arrive as environment variables
    (``REJECT_RATE_THRESHOLD``) and Dagster resolves those only into text or integers.
    """

    reject_rate_threshold: str = Field(
        default=default("REJECT_RATE_THRESHOLD"),
        description="Largest share of rejected data lines (0..1) a loaded file may have.",
    )

    @property
    def threshold(self) -> float:
        try:
            value = float(self.reject_rate_threshold)
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"REJECT_RATE_THRESHOLD must be a number between 0 and 1, "
                f"got {self.reject_rate_threshold!r}"
            )
        return value


def reject_rate_spec(feed: Feed) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        REJECT_RATE_CHECK,
        asset=feed.key,
        blocking=True,
        description=(
            "Fails when the share of rejected lines of a loaded file is above the threshold "
            "(REJECT_RATE_THRESHOLD); blocking, so nothing downstream consumes the load."
        ),
    )


def reject_rate_result(
    feed: Feed, loads: Sequence[FileLoad], threshold: float
) -> dg.AssetCheckResult:
    """Pass when every file of the run is within ``threshold``; report the worst one."""
    worst = max(loads, key=lambda load: load.reject_rate, default=None)
    failing = [load for load in loads if load.reject_rate > threshold]
    metadata: dict[str, Any] = {
        "reject_rate": dg.MetadataValue.float(worst.reject_rate if worst else 0.0),
        "threshold": dg.MetadataValue.float(threshold),
        "rejected_count": dg.MetadataValue.int(sum(load.rejected for load in loads)),
        "data_lines": dg.MetadataValue.int(sum(load.data_lines for load in loads)),
    }
    if worst is not None:
        metadata["worst_file"] = dg.MetadataValue.path(worst.source_file)
    if len(loads) > 1:
        # One evaluation per run: the place for a range's per-file facts, including the
        # version each file had (its sensor reads it back after losing its cursor).
        metadata["files"] = dg.MetadataValue.json(
            {
                load.source_file: {
                    "sha256": load.sha256,
                    "reject_rate": round(load.reject_rate, 6),
                    "rejected": load.rejected,
                    "data_lines": load.data_lines,
                }
                for load in loads
            }
        )
    if failing:
        names = ", ".join(f"{load.source_file} ({load.reject_rate:.1%})" for load in failing)
        description = f"Reject rate above {threshold:.1%}: {names}"
    else:
        description = f"Every file within the {threshold:.1%} reject rate threshold"
    return dg.AssetCheckResult(
        asset_key=feed.key,
        check_name=REJECT_RATE_CHECK,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=description,
    )
