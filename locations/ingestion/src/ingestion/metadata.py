"""What a feed's load reports: per file, in the run's log, and in the asset's metadata."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from ingestion.feeds import Feed
from ingestion.tags import SHA256_TAG, SOURCE_FILE_TAG

# Missing files a range's materialization names (all of them are in the run's log).
MISSING_LISTED = 20


@dataclass(frozen=True)
class FileLoad:
    """What loading one file did."""

    feed: str
    partition_key: str | None
    source_file: str
    sha256: str
    size_bytes: int
    data_lines: int
    loaded: int
    rejected: int
    blank_lines: int
    top_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.data_lines if self.data_lines else 0.0


def log_load(context: dg.AssetExecutionContext, feed: Feed, load: FileLoad) -> None:
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


def log_range(context: dg.AssetExecutionContext, feed: Feed, loads: Sequence[FileLoad]) -> None:
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


def compare_with_request(context: dg.AssetExecutionContext, loads: Sequence[FileLoad]) -> None:
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


def load_metadata(
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
