"""``reference_files_sensor``: one run with just the reference snapshots that changed."""

from __future__ import annotations

import dagster as dg

from ingestion.defs import jobs
from ingestion.feeds import REFERENCE_FEEDS, Feed
from ingestion.file_sensing.state import Delivery
from ingestion.file_sensing.tick import Tick
from ingestion.tags import SHA256_TAG, SOURCE_FILE_TAG
from platform_shared.resources import LandingZone

# Reference snapshots change a few times a day; nothing waits on them by the second.
REFERENCE_INTERVAL_SECONDS = 30


@dg.sensor(
    name="reference_files_sensor",
    job=jobs.reference_data_job,
    minimum_interval_seconds=REFERENCE_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Reloads customers and/or products when their snapshot file changes: one run per "
        "tick with just the changed assets; each file is tracked separately."
    ),
)
def reference_files_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZone
) -> dg.SensorResult:
    tick = Tick(context, landing.store)
    listed = {file.name: file for file in tick.store.list()}
    changed: list[tuple[Feed, Delivery]] = []
    for feed in REFERENCE_FEEDS:
        file = listed.get(feed.relative_path())
        if file is None:
            continue
        candidate = tick.candidate(file)
        if candidate is not None and (delivery := tick.observe(candidate)) is not None:
            changed.append((feed, delivery))
    if not changed:
        return tick.result([])
    request = dg.RunRequest(
        run_key="reference:"
        + ",".join(f"{f.name}:{d.state.sha256[:16]}:{d.state.deliveries}" for f, d in changed),
        asset_selection=[f.key for f, _ in changed],
        tags={
            SOURCE_FILE_TAG: ",".join(d.candidate.relative for _, d in changed),
            SHA256_TAG: ",".join(d.state.sha256 for _, d in changed),
        },
    )
    return tick.result([request])
