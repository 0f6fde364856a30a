"""What a file sensor recovers from the instance for a file its cursor does not know.

After a reset or unreadable cursor, a file is compared with the newest run the sensor
requested for it or, for range runs (which carry no per-file tags), with its partition's
latest load, so content already loaded is not loaded again and a new version's run key
follows on from the delivery numbers already used.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import dagster as dg

from ingestion.feeds import REFERENCE_FEEDS
from ingestion.file_sensing.state import Candidate, FileState
from ingestion.quality import REJECT_RATE_CHECK
from ingestion.tags import SHA256_TAG, SOURCE_FILE_TAG
from platform_shared.dagster_private import RUN_KEY_TAG, SENSOR_NAME_TAG, CheckError

REFERENCE_FILES = tuple(feed.relative_path() for feed in REFERENCE_FEEDS)


def _source_tag_values(relative: str) -> list[str]:
    """Source-file tags a run loading ``relative`` can carry: a reference run names every
    file it reloads, comma-separated in feed order."""
    if relative not in REFERENCE_FILES:
        return [relative]
    return [
        ",".join(group)
        for n in range(1, len(REFERENCE_FILES) + 1)
        for group in itertools.combinations(REFERENCE_FILES, n)
        if relative in group
    ]


def _delivery_number(run_key: str | None, sha256: str) -> int:
    """The delivery number a run key gave the version ``sha256`` (``…:<sha16>:<n>``)."""
    marker = f":{sha256[:16]}:"
    for part in (run_key or "").split(","):
        _, found, rest = part.partition(marker)
        if found and rest.isdigit():
            return int(rest)
    return 0


def _loaded_sha256(metadata: Mapping[str, dg.MetadataValue], relative: str) -> str | None:
    """The sha256 that a load's metadata (its materialization's, or for a range its
    reject-rate check's ``files``) reports for ``relative``."""
    files = metadata.get("files")
    if isinstance(files, dg.JsonMetadataValue) and isinstance(files.data, dict):
        entry = files.data.get(relative)
        return entry.get("sha256") if isinstance(entry, dict) else None
    source, digest = metadata.get("source_file"), metadata.get("content_sha256")
    if isinstance(source, dg.PathMetadataValue) and source.path == relative:
        return digest.value if isinstance(digest, dg.TextMetadataValue) else None
    return None


def _checked_sha256(
    instance: dg.DagsterInstance, run_id: str, asset_key: dg.AssetKey, relative: str
) -> str | None:
    """The sha256 the reject-rate check of run ``run_id`` reports for ``relative``."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.asset_check_evaluation_data if event else None
        if (
            evaluation is not None
            and evaluation.asset_key == asset_key
            and evaluation.check_name == REJECT_RATE_CHECK
        ):
            return _loaded_sha256(evaluation.metadata, relative)
    return None


def loaded_before(context: dg.SensorEvaluationContext, relative: str) -> FileState | None:
    """The version of ``relative`` in the newest run the sensor of ``context`` requested, with the
    highest delivery number its run keys used; ``None`` if it never requested one."""
    try:
        instance = context.instance
        sensor = context.sensor_name
    except (dg.DagsterInvariantViolationError, CheckError):
        return None  # evaluated without an instance or name (tests): no history
    runs = instance.get_runs(
        dg.RunsFilter(tags={SENSOR_NAME_TAG: sensor, SOURCE_FILE_TAG: _source_tag_values(relative)})
    )
    latest: str | None = None
    deliveries = 0
    for run in runs:  # newest first
        hashes = dict(
            zip(
                run.tags.get(SOURCE_FILE_TAG, "").split(","),
                run.tags.get(SHA256_TAG, "").split(","),
                strict=False,
            )
        )
        sha256 = hashes.get(relative)
        if not sha256:
            continue
        latest = latest or sha256
        deliveries = max(deliveries, _delivery_number(run.tags.get(RUN_KEY_TAG), sha256))
    if latest is None:
        return None
    context.log.info(f"{relative} is not in the cursor; its last requested load is on record")
    return FileState(sha256=latest, size=-1, version="", deliveries=max(deliveries, 1))


def in_latest_load(
    context: dg.SensorEvaluationContext, asset_key: dg.AssetKey | None, candidate: Candidate
) -> FileState | None:
    """The version of a daily file its partition's latest load read, as that load's
    metadata reports it (range runs carry no per-file tags); ``None`` if none."""
    if candidate.partition_key is None or asset_key is None:
        return None
    try:
        instance = context.instance
    except (dg.DagsterInvariantViolationError, CheckError):
        return None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[candidate.partition_key]),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return None
    sha256 = _loaded_sha256(materialization.metadata, candidate.relative)
    if sha256 is None and records[0].run_id:  # a range run: its check lists the files
        sha256 = _checked_sha256(instance, records[0].run_id, asset_key, candidate.relative)
    if sha256 is None:
        return None
    context.log.info(f"{candidate.relative} is not in the cursor; its partition's load is known")
    return FileState(sha256=sha256, size=-1, version="", deliveries=1)
