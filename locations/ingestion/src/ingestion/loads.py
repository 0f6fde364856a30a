"""One asset's load: locate the run's files, load them in one transaction, report, gate.

Every ingestion asset is this function with its feed. ``customers`` and ``products`` are
snapshots: each load replaces the whole table. ``orders`` and ``sales`` are daily
partitions: each load replaces exactly the partitions of the run (one file each), so a
backfill of a range is a single run. Every load is one transaction, reports what it read
(file, content hash, rows, rejects) and gates itself with the blocking reject-rate check.
"""

import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from ingestion.feeds import Feed
from ingestion.loading import BadFileError, FileLoad, Target, batches, load_files, prepare
from ingestion.quality import QualityConfig, reject_rate_result
from ingestion.tags import SHA256_TAG, SOURCE_FILE_TAG
from platform_shared.metadata import committed_metadata, table_metadata
from platform_shared.naming import write_scope
from platform_shared.resources import LandingZone, WarehouseResource
from platform_shared.validation import UnsafeInputError

# Missing files a range's materialization names (all of them are in the run's log).
MISSING_LISTED = 20

LoadEvent = dg.MaterializeResult | dg.AssetCheckResult


def load_feed(
    context: dg.AssetExecutionContext,
    feed: Feed,
    warehouse: WarehouseResource,
    landing: LandingZone,
    quality: QualityConfig,
) -> Iterator[LoadEvent]:
    """Load the run's file(s) of ``feed`` in one transaction; report and gate the result.

    A run over a partition range loads one file per partition. A partition without a file
    fails a single-partition run; in a range it is skipped with a warning and keeps its
    current rows (a landing folder that was cleaned up must not empty the table).
    """
    threshold = quality.threshold  # a bad setting fails before anything is read
    keys: list[str | None] = list(context.partition_keys) if feed.is_daily else [None]
    targets, missing = _locate(context, feed, landing.path, keys)
    started = time.monotonic()
    rejected_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def load(conn: duckdb.DuckDBPyConnection) -> tuple[list[FileLoad], dict[str, Any]]:
        prepare(conn)
        loads: list[FileLoad] = []
        try:
            for batch in batches(targets):
                loads.extend(load_files(conn, feed, batch, rejected_at=rejected_at))
        except BadFileError as exc:
            context.log.error(str(exc))
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if feed.is_daily:
            first, last = min(k for k in keys if k), max(k for k in keys if k)
            where = f"{feed.partition_column} BETWEEN ?::DATE AND ?::DATE"
            table = table_metadata(
                conn, feed.table, where=where, params=[first, last], order_by=feed.columns[0]
            )
        else:
            table = table_metadata(conn, feed.table, order_by=feed.columns[0])
        return loads, table

    dated = sorted(k for k in keys if k)
    scope = write_scope(feed.table, dated[0], dated[-1]) if dated else feed.table
    committed = warehouse.write(load, what=scope)
    loads, table = committed.value
    duration = time.monotonic() - started

    if len(loads) == 1:
        _log_load(context, feed, loads[0])
    else:
        _log_range(context, feed, loads)
    _compare_with_request(context, loads)
    metadata = {**_metadata(feed, loads, missing, table, duration), **committed_metadata(committed)}
    yield dg.MaterializeResult(metadata=metadata)
    yield reject_rate_result(feed, loads, threshold)


def _locate(
    context: dg.AssetExecutionContext, feed: Feed, root: Path, keys: Sequence[str | None]
) -> tuple[list[Target], list[str]]:
    """Validated paths of the run's files, checked before any file or SQL access."""
    targets: list[Target] = []
    missing: list[str] = []
    for key in keys:
        try:
            relative = feed.relative_path(key)
            path = feed.locate(root, key)
        except UnsafeInputError as exc:
            context.log.error(f"Refusing to load {feed.name}: {exc}")
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if path.is_file():
            targets.append(Target(key, relative, path))
        else:
            missing.append(relative)
    if missing and not targets:
        message = f"Landing file missing: {', '.join(missing)}"
        context.log.error(message)
        raise dg.Failure(description=message, allow_retries=False)
    if missing:
        context.log.warning(
            f"{len(missing)} of {len(keys)} partitions have no landing file and keep their "
            f"current rows: {', '.join(missing)}"
        )
    return targets, missing


def _log_load(context: dg.AssetExecutionContext, feed: Feed, load: FileLoad) -> None:
    context.log.info(
        f"Loaded {load.source_file} (sha256 {load.sha256[:12]}, {load.size_bytes} bytes): "
        f"{load.loaded} rows into {feed.table_label}, {load.rejected} rejected"
    )
    if load.rejected:
        reasons = "; ".join(f"{reason} (x{n})" for reason, n in load.top_reasons.items())
        context.log.warning(
            f"{load.rejected} of {load.data_lines} lines of {load.source_file} quarantined "
            f"in ingestion.rejected_rows ({load.reject_rate:.1%}). Top reasons: {reasons}"
        )
    if load.loaded == 0:
        context.log.warning(f"{load.source_file} loaded zero rows")


def _log_range(context: dg.AssetExecutionContext, feed: Feed, loads: Sequence[FileLoad]) -> None:
    """A range's loads in a few lines: each log line is an event written to the instance,
    and the per-file figures are in the reject-rate check's ``files`` metadata and
    ``ingestion.rejected_rows``."""
    loaded = sum(load.loaded for load in loads)
    rejected = sum(load.rejected for load in loads)
    data_lines = sum(load.data_lines for load in loads)
    context.log.info(
        f"Loaded {len(loads)} files ({loads[0].source_file} .. {loads[-1].source_file}): "
        f"{loaded} rows into {feed.table_label}, {rejected} rejected"
    )
    with_rejects = [load for load in loads if load.rejected]
    if with_rejects:
        worst = max(with_rejects, key=lambda load: load.reject_rate)
        reasons: Counter[str] = Counter()
        for load in with_rejects:
            reasons.update(load.top_reasons)
        top = "; ".join(f"{reason} (x{n})" for reason, n in reasons.most_common(5))
        context.log.warning(
            f"{rejected} of {data_lines} lines in {len(with_rejects)} of {len(loads)} files "
            f"quarantined in ingestion.rejected_rows; highest share {worst.reject_rate:.1%} "
            f"in {worst.source_file}. Top reasons: {top}"
        )
    empty = [load.source_file for load in loads if load.loaded == 0]
    if empty:
        context.log.warning(f"{len(empty)} files loaded zero rows: {', '.join(empty)}")


def _compare_with_request(context: dg.AssetExecutionContext, loads: Sequence[FileLoad]) -> None:
    """Warn when the file changed between the sensor's look and the load."""
    tags = context.op_execution_context.run_tags  # also set when invoked directly in tests
    files, hashes = tags.get(SOURCE_FILE_TAG), tags.get(SHA256_TAG)
    if not files or not hashes:
        return
    requested = dict(zip(files.split(","), hashes.split(","), strict=False))
    for load in loads:
        expected = requested.get(load.source_file)
        if expected and expected != load.sha256:
            context.log.warning(
                f"{load.source_file} changed after the sensor requested this run "
                f"(requested sha256 {expected[:12]}, loaded {load.sha256[:12]}); "
                "the newer content was loaded and the sensor will request it once more"
            )


def _metadata(
    feed: Feed,
    loads: Sequence[FileLoad],
    missing: Sequence[str],
    table: dict[str, Any],
    duration: float,
) -> dict[str, Any]:
    """Materialization metadata; a range run reports totals and a fingerprint of its files.

    Dagster copies a range run's metadata onto the event of every partition, so nothing
    here grows with the number of files: listed per file, a year's load stored its
    listing 730 times (40 MB). Each file's hash and counts are in the reject-rate
    check's ``files`` metadata, recorded once per run.
    """
    if len(loads) == 1:
        source = loads[0].source_file
        digest = loads[0].sha256
    else:
        # A range: the folder, and one fingerprint of every file version that was loaded.
        source = f"{feed.folder}/"
        listing = "".join(f"{load.source_file} {load.sha256}\n" for load in loads)
        digest = hashlib.sha256(listing.encode()).hexdigest()
    data_lines = sum(load.data_lines for load in loads)
    rejected = sum(load.rejected for load in loads)
    metadata: dict[str, Any] = {
        **table,
        "file_count": dg.MetadataValue.int(len(loads)),
        "rejected_count": dg.MetadataValue.int(rejected),
        "data_lines": dg.MetadataValue.int(data_lines),
        "reject_rate": dg.MetadataValue.float(rejected / data_lines if data_lines else 0.0),
        "source_file": dg.MetadataValue.path(source),
        "content_sha256": dg.MetadataValue.text(digest),
        "load_duration_seconds": dg.MetadataValue.float(round(duration, 3)),
    }
    if missing:
        metadata["missing_count"] = dg.MetadataValue.int(len(missing))
        # The run's warning log names every one; this keeps the event bounded.
        metadata["missing_files"] = dg.MetadataValue.json(list(missing[:MISSING_LISTED]))
    return metadata
