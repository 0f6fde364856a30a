"""File sensors: a run per new or corrected landing file, none for a mere touch.

Each sensor keeps, per file, the content hash, size and mtime of the version it last
requested (or confirmed unchanged) in its cursor, a JSON document that survives daemon
restarts. A tick lists the folder and hashes only files whose (size, mtime) differ from
that record, so a tick costs a directory listing plus the reading of changed files.

* New or corrected content (a different sha256) gets exactly one run. Its run key names
  the file, the hash and the delivery number, so the daemon never launches it twice, and
  a file that returns to an earlier content (A, B, then A again) still reloads.
* A backlog (more than ``BULK_DELIVERY_FILES`` new versions of a feed in one tick, as
  when a history is delivered at once) gets one range run per contiguous stretch of
  days instead; its run key is a digest of every (file, hash, delivery number) it loads.
* Identical re-delivery, ``touch`` or ``cp -p`` of the same bytes: hashed, confirmed,
  no run. Nothing is filtered by mtime order, so a file arriving with an old mtime
  (``cp -p``) is still picked up.
* Files still being written are not read: temporary names are ignored, and a version
  counts only once it has settled, i.e. its (size, mtime) is unchanged since the
  previous tick, or, on first sight, untouched for ``QUIET_SECONDS``. A file younger
  than that (one just renamed into place) is looked at again within the same tick once
  it reaches that age, rather than a tick later.
* A file the cursor does not know (a reset or unreadable cursor) is compared with the
  newest run this sensor requested for it, or else with its partition's latest load:
  content already loaded is not loaded again, and a new version's run key follows on
  from the delivery numbers already used.
* Hostile names (quotes, newlines, ``..``, symlinks out of the folder) are skipped with
  one warning, and never reach the file system beyond the listing, nor SQL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._check import CheckError
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from ingestion.assets import MANIFEST_TAG, SHA256_TAG, SOURCE_FILE_TAG
from ingestion.checks import REJECT_RATE_CHECK
from ingestion.feeds import (
    ORDERS,
    REFERENCE_FEEDS,
    SALES,
    Feed,
    is_temporary_name,
    partition_of,
)
from ingestion.jobs import daily_feeds_job, reference_data_job
from platform_shared.cross_location import partition_ranges, range_tags
from platform_shared.partitions import PARTITIONS_START_DATE, daily_partitions
from platform_shared.resources import LandingZone
from platform_shared.sensor_timing import EVERY_DAEMON_PASS
from platform_shared.validation import UnsafeInputError, resolve_inside

# On the path from a landing file to analytics: every pass of the sensor daemon. A tick
# lists one folder and hashes only changed files (milliseconds).
DAILY_FEED_INTERVAL_SECONDS = EVERY_DAEMON_PASS
# Reference snapshots change a few times a day; nothing waits on them by the second.
REFERENCE_INTERVAL_SECONDS = 30
# A file written in place must not pause longer than this mid-file (deliver by rename
# otherwise). A version read too early is not lost: its completion changes the hash,
# which loads the partition again. The wait happens inside the tick, so it adds at most
# this much to a delivery's latency (a tick later would add a whole daemon pass).
QUIET_SECONDS = 2
CURSOR_VERSION = 1
# A run per file keeps a bad day's quality gate to that day and each day retryable on
# its own, but costs a run process start (seconds) per file. Past a month of files in
# one tick, the start-ups dominate: the backlog loads as range runs, gated as a whole.
BULK_DELIVERY_FILES = 31
# Bounds how long one range run holds the warehouse and how much a retry redoes.
BULK_RANGE_DAYS = 366


@dataclass(frozen=True)
class FileState:
    """The version of a file the sensor last requested or confirmed."""

    sha256: str
    size: int
    mtime_ns: int
    deliveries: int  # versions requested so far: part of the run key


@dataclass
class SensorState:
    """What the cursor holds, keyed by path relative to the landing folder."""

    files: dict[str, FileState] = field(default_factory=dict)
    # (size, mtime_ns) of changed files the last tick saw but did not read yet.
    unsettled: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Names reported as skipped by the last tick: each is reported once while it stays.
    skipped: set[str] = field(default_factory=set)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        if not isinstance(data, dict) or data.get("version") != CURSOR_VERSION:
            raise ValueError(f"not a version {CURSOR_VERSION} cursor: {cursor[:80]!r}")
        return cls(
            files={name: FileState(**state) for name, state in data["files"].items()},
            unsettled={name: (s[0], s[1]) for name, s in data["unsettled"].items()},
            skipped=set(data["skipped"]),
        )

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "files": {n: dataclasses.asdict(s) for n, s in sorted(self.files.items())},
                "unsettled": {n: list(s) for n, s in sorted(self.unsettled.items())},
                "skipped": sorted(self.skipped),
            },
            sort_keys=True,
        )


@dataclass(frozen=True)
class Candidate:
    """A landing file whose name and location passed validation."""

    relative: str
    path: Path
    partition_key: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A new file version to load."""

    candidate: Candidate
    state: FileState


def _stats(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def pause(seconds: float) -> None:
    """Sleep while a just-written file ages (replaced in tests to act as a writer)."""
    time.sleep(seconds)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Tick:
    """One sensor evaluation: reads the previous state and builds the next one."""

    def __init__(
        self, context: dg.SensorEvaluationContext, asset_key: dg.AssetKey | None = None
    ) -> None:
        self.log = context.log
        self.asset_key = asset_key
        try:
            self.previous = SensorState.from_cursor(context.cursor)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Starting over re-hashes every file; run keys still stop identical reloads.
            self.log.warning(f"Unreadable cursor ({exc}); starting from an empty state")
            self.previous = SensorState()
        self.next = SensorState(files=dict(self.previous.files))
        self.context = context

    def skip(self, relative: str, message: str, *, warn: bool = True) -> None:
        """Leave ``relative`` alone, logging ``message`` once while the file stays there."""
        self.next.skipped.add(relative)
        if relative not in self.previous.skipped:
            if warn:
                self.log.warning(message)
            else:
                self.log.info(message)

    def candidate(
        self, root: Path, relative: str, partition_key: str | None = None
    ) -> Candidate | None:
        """``relative`` as a validated regular file inside ``root``, or skipped."""
        try:
            path = resolve_inside(root, relative)
        except UnsafeInputError as exc:
            self.skip(relative, f"Skipping landing file: {exc}")
            return None
        if not path.is_file():
            self.skip(relative, f"Skipping landing file {relative!r}: not a regular file")
            return None
        return Candidate(relative, path, partition_key)

    def observe(self, candidate: Candidate) -> Delivery | None:
        """A delivery if ``candidate`` holds a settled version not requested before."""
        relative, path = candidate.relative, candidate.path
        try:
            stats = _stats(path)
            known = self.previous.files.get(relative)
            if known is not None and (known.size, known.mtime_ns) == stats:
                return None
            settled, stats = self._settle(path, relative, stats)
            if not settled:
                self.next.unsettled[relative] = stats
                self.log.info(f"{relative} is changing; it will be read once it settles")
                return None
            sha256 = _sha256(path)
            after = _stats(path)
        except FileNotFoundError:
            return None  # removed since the listing; nothing to do
        except OSError as exc:
            self.skip(relative, f"Skipping landing file {relative!r}: {exc}")
            return None
        if after != stats:  # written to while being hashed
            self.next.unsettled[relative] = after
            return None
        size, mtime_ns = stats
        if known is None:
            known = self._loaded_before(relative) or self._in_latest_load(candidate)
        if known is not None and known.sha256 == sha256:
            self.next.files[relative] = dataclasses.replace(known, size=size, mtime_ns=mtime_ns)
            self.log.info(f"{relative} was re-delivered with identical content; nothing to load")
            return None
        deliveries = (known.deliveries if known else 0) + 1
        state = FileState(sha256=sha256, size=size, mtime_ns=mtime_ns, deliveries=deliveries)
        self.next.files[relative] = state
        return Delivery(candidate, state)

    def _settle(
        self, path: Path, relative: str, stats: tuple[int, int]
    ) -> tuple[bool, tuple[int, int]]:
        """Whether the version with ``stats`` has settled, and its latest stats."""
        seen = self.previous.unsettled.get(relative)
        if seen is not None:
            return seen == stats, stats
        young = QUIET_SECONDS - (time.time_ns() - stats[1]) / 1e9
        if young <= 0:
            return True, stats
        # Bounded even for an mtime in the future; files looked at later in the tick
        # have aged meanwhile, so a tick waits at most QUIET_SECONDS in all.
        pause(min(young, QUIET_SECONDS))
        after = _stats(path)
        return after == stats, after

    def _loaded_before(self, relative: str) -> FileState | None:
        """The version of ``relative`` in the newest run this sensor requested, with the
        highest delivery number its run keys used; ``None`` if it never requested one."""
        try:
            instance = self.context.instance
            sensor = self.context.sensor_name
        except (dg.DagsterInvariantViolationError, CheckError):
            return None  # evaluated without an instance or name (tests): no history
        runs = instance.get_runs(
            dg.RunsFilter(
                tags={SENSOR_NAME_TAG: sensor, SOURCE_FILE_TAG: _source_tag_values(relative)}
            )
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
        self.log.info(f"{relative} is not in the cursor; its last requested load is on record")
        return FileState(sha256=latest, size=-1, mtime_ns=-1, deliveries=max(deliveries, 1))

    def _in_latest_load(self, candidate: Candidate) -> FileState | None:
        """The version of a daily file its partition's latest load read, as that load's
        metadata reports it (range runs carry no per-file tags); ``None`` if none."""
        asset_key = self.asset_key
        if candidate.partition_key is None or asset_key is None:
            return None
        try:
            instance = self.context.instance
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
        self.log.info(f"{candidate.relative} is not in the cursor; its partition's load is known")
        return FileState(sha256=sha256, size=-1, mtime_ns=-1, deliveries=1)

    def result(self, run_requests: Sequence[dg.RunRequest]) -> dg.SensorResult:
        if run_requests:
            return dg.SensorResult(run_requests=list(run_requests), cursor=self.next.to_cursor())
        return dg.SensorResult(
            skip_reason="No new or changed landing file", cursor=self.next.to_cursor()
        )


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


def daily_candidates(tick: Tick, feed: Feed, root: Path) -> list[Candidate]:
    """Files of a daily feed whose name is a date of an open partition."""
    assert feed.folder is not None
    try:
        names = sorted(entry.name for entry in os.scandir(root / feed.folder))
    except FileNotFoundError:
        return []
    last_open = daily_partitions.get_last_partition_key()
    candidates = []
    for name in names:
        if is_temporary_name(name):
            continue  # a writer's work in progress, renamed into place when complete
        relative = f"{feed.folder}/{name}"
        try:
            partition_key = partition_of(name)
        except UnsafeInputError as exc:
            tick.skip(relative, f"Skipping landing file in {feed.folder}/: {exc}")
            continue
        if partition_key < PARTITIONS_START_DATE:
            tick.skip(
                relative,
                f"Skipping {relative}: before the first partition ({PARTITIONS_START_DATE})",
            )
            continue
        if last_open is None or partition_key > last_open:
            tick.skip(relative, f"{relative} waits until its day is over", warn=False)
            continue
        candidate = tick.candidate(root, relative, partition_key)
        if candidate is not None:
            candidates.append(candidate)
    return candidates


def daily_run_request(feed: Feed, delivery: Delivery) -> dg.RunRequest:
    key, state = delivery.candidate.partition_key, delivery.state
    assert key is not None
    return dg.RunRequest(
        run_key=f"{feed.name}:{key}:{state.sha256[:16]}:{state.deliveries}",
        partition_key=key,
        asset_selection=[feed.key],
        tags={SOURCE_FILE_TAG: delivery.candidate.relative, SHA256_TAG: state.sha256},
    )


def range_run_request(feed: Feed, deliveries: Sequence[Delivery]) -> dg.RunRequest:
    """One run loading ``deliveries``, files of consecutive days, as a partition range."""
    if len(deliveries) == 1:
        return daily_run_request(feed, deliveries[0])
    first, last = deliveries[0].candidate.partition_key, deliveries[-1].candidate.partition_key
    assert first is not None
    assert last is not None
    manifest = "".join(
        f"{d.candidate.relative} {d.state.sha256} {d.state.deliveries}\n" for d in deliveries
    )
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    return dg.RunRequest(
        run_key=f"{feed.name}:{first}..{last}:{digest[:16]}",
        asset_selection=[feed.key],
        tags={**range_tags(dg.PartitionKeyRange(first, last)), MANIFEST_TAG: digest},
    )


def daily_run_requests(feed: Feed, deliveries: Sequence[Delivery]) -> list[dg.RunRequest]:
    """A run per delivery, or for a backlog one per stretch of consecutive days."""
    if len(deliveries) <= BULK_DELIVERY_FILES:
        return [daily_run_request(feed, delivery) for delivery in deliveries]
    by_key = {d.candidate.partition_key: d for d in deliveries if d.candidate.partition_key}
    requests = []
    for span in partition_ranges(by_key, daily_partitions, max_ranges=len(by_key)):
        keys = daily_partitions.get_partition_keys_in_range(span)
        for start in range(0, len(keys), BULK_RANGE_DAYS):
            chunk = keys[start : start + BULK_RANGE_DAYS]
            requests.append(range_run_request(feed, [by_key[key] for key in chunk]))
    return requests


def build_daily_feed_sensor(feed: Feed) -> dg.SensorDefinition:
    """A sensor requesting a run of ``feed`` per new or changed ``YYYY-MM-DD.csv``, or range
    runs for a backlog."""

    @dg.sensor(
        name=f"{feed.name}_file_sensor",
        job=daily_feeds_job,
        minimum_interval_seconds=DAILY_FEED_INTERVAL_SECONDS,
        # The local stack must load data without a click.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Loads each new or corrected {feed.folder}/YYYY-MM-DD.csv into its partition of "
            f"{feed.table_label}, once per distinct content; a backlog of more than "
            f"{BULK_DELIVERY_FILES} files loads as range runs."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        tick = Tick(context, feed.key)
        deliveries = [
            delivery
            for candidate in daily_candidates(tick, feed, landing.path)
            if (delivery := tick.observe(candidate)) is not None
        ]
        return tick.result(daily_run_requests(feed, deliveries))

    return _sensor


orders_file_sensor = build_daily_feed_sensor(ORDERS)
sales_file_sensor = build_daily_feed_sensor(SALES)


@dg.sensor(
    name="reference_files_sensor",
    job=reference_data_job,
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
    tick = Tick(context)
    changed: list[tuple[Feed, Delivery]] = []
    for feed in REFERENCE_FEEDS:
        relative = feed.relative_path()
        if not os.path.lexists(landing.path / relative):
            continue
        candidate = tick.candidate(landing.path, relative)
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
