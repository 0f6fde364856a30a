"""Building blocks for sensors that react to another location's materializations.

A location knows other teams' assets only by key, so these helpers work from the
instance's event log: read the materializations recorded since a cursor, drop those
whose run failed a blocking check, and fold what is left into a bounded number of run
requests with deterministic run keys (the daemon then launches each key once).

A run key also names the newest event it answers: when an operator empties a sensor's
cursor, ``recover_cursor`` resumes after the newest event its runs answered instead of
answering the whole event log again under run keys the daemon has not seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterInvariantViolationError,
    EventLogRecord,
    PartitionKeyRange,
    RunsFilter,
    SensorEvaluationContext,
    TimeWindowPartitionsDefinition,
)

from platform_shared.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    CheckError,
)


@dataclass(frozen=True)
class UpstreamEvents:
    """Materializations read since the cursor, and the cursor to store after handling them."""

    records: list[EventLogRecord]
    cursor: str

    @property
    def partitions(self) -> set[str]:
        return {r.partition_key for r in self.records if r.partition_key}


def read_materializations(
    instance: DagsterInstance,
    keys: Sequence[AssetKey],
    cursor: str | None,
    *,
    limit_per_key: int = 5000,
) -> UpstreamEvents:
    """Materializations of ``keys`` after the storage ids in ``cursor`` (a JSON map).

    Reads at most ``limit_per_key`` events per key per call; the rest is picked up on
    the next tick because the cursor only advances past what was returned.
    """
    positions: dict[str, int] = json.loads(cursor) if cursor else {}
    records: list[EventLogRecord] = []
    for key in keys:
        name = key.to_user_string()
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, after_storage_id=positions.get(name)),
            limit=limit_per_key,
            ascending=True,
        )
        if result.records:
            records.extend(result.records)
            positions[name] = max(r.storage_id for r in result.records)
    records.sort(key=lambda r: r.storage_id)
    return UpstreamEvents(records=records, cursor=json.dumps(positions, sort_keys=True))


def runs_in_progress(instance: DagsterInstance, run_ids: Iterable[str]) -> set[str]:
    """The runs among ``run_ids`` that have not finished (runless events have no run).

    A run's blocking checks are recorded after its materializations, so a sensor waits
    for the run to finish (without moving its cursor) before judging its events.
    """
    ids = sorted({r for r in run_ids if r})
    if not ids:
        return set()
    return {run.run_id for run in instance.get_runs(RunsFilter(run_ids=ids)) if not run.is_finished}


def runs_still_writing(instance: DagsterInstance, keys: Sequence[AssetKey]) -> set[str]:
    """Unfinished runs, queued ones included, that were the last to plan a materialization
    of one of ``keys``.

    A run records its planned materializations as it is created, long before it writes.
    Runs are created in order, so the last planner of a key is normally the last to write
    it; one created earlier and still running is missed, which costs only a later batch.
    """
    run_ids = set()
    for key in keys:
        planned = instance.get_latest_planned_materialization_info(key)
        if planned is not None:
            run_ids.add(planned.run_id)
    return runs_in_progress(instance, run_ids)


def runs_failing_blocking_checks(instance: DagsterInstance, run_ids: Iterable[str]) -> set[str]:
    """Runs in which a blocking check failed: their materializations must not be consumed."""
    failed: set[str] = set()
    for run_id in set(run_ids):
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            data = entry.dagster_event.event_specific_data if entry.dagster_event else None
            if isinstance(data, AssetCheckEvaluation) and data.blocking and not data.passed:
                failed.add(run_id)
                break
    return failed


def usable_records(instance: DagsterInstance, events: UpstreamEvents) -> list[EventLogRecord]:
    blocked = runs_failing_blocking_checks(instance, (r.run_id for r in events.records))
    return [r for r in events.records if r.run_id not in blocked]


def partition_ranges(
    partition_keys: Iterable[str],
    partitions_def: TimeWindowPartitionsDefinition,
    *,
    max_ranges: int,
) -> list[PartitionKeyRange]:
    """Cover ``partition_keys`` with at most ``max_ranges`` contiguous ranges.

    Contiguous runs of keys become one range each; when there are more runs than
    ``max_ranges`` the smallest gaps are bridged (re-processing a few untouched
    partitions is idempotent and far cheaper than another run).
    """
    all_keys = partitions_def.get_partition_keys()
    index = {k: i for i, k in enumerate(all_keys)}
    positions = sorted({index[k] for k in partition_keys if k in index})
    if not positions:
        return []
    spans: list[list[int]] = [[positions[0], positions[0]]]
    for pos in positions[1:]:
        if pos == spans[-1][1] + 1:
            spans[-1][1] = pos
        else:
            spans.append([pos, pos])
    while len(spans) > max(1, max_ranges):
        gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
        i = gaps.index(min(gaps))
        spans[i : i + 2] = [[spans[i][0], spans[i + 1][1]]]
    return [PartitionKeyRange(all_keys[a], all_keys[b]) for a, b in spans]


def range_tags(key_range: PartitionKeyRange) -> dict[str, str]:
    """Run tags that make one run process a whole partition range."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: key_range.start,
        ASSET_PARTITION_RANGE_END_TAG: key_range.end,
    }


def run_key(prefix: str, records: Iterable[EventLogRecord], *parts: str) -> str:
    """A run key naming exactly the upstream events a request answers:
    ``<prefix>:<digest of their storage ids and parts>:<newest storage id>``."""
    ordered = sorted(r.storage_id for r in records)
    digest = hashlib.sha256("|".join([",".join(map(str, ordered)), *parts]).encode())
    return f"{prefix}:{digest.hexdigest()[:16]}:{ordered[-1] if ordered else 0}"


def recover_cursor(
    context: SensorEvaluationContext, keys: Sequence[AssetKey], *, lookback: int = 100
) -> str | None:
    """The sensor's cursor or, when it is empty, every key of ``keys`` positioned at the
    newest event answered by the runs the sensor requested (``None`` if there are none).

    A sensor consumes the events of a key in order, and one with several keys consumes
    all it read at once, so every event up to the newest answered one was answered,
    blocked or superseded by then. Blocked events read again stay blocked; without this a
    reset would answer the whole history again under new run keys.
    """
    if context.cursor:
        return context.cursor
    try:
        instance, name = context.instance, context.sensor_name
    except (DagsterInvariantViolationError, CheckError):
        return None  # evaluated outside a deployment (tests): nothing to recover from
    newest = 0
    # Several recent runs, not just the newest: a retry of an old run names older events.
    for run in instance.get_runs(RunsFilter(tags={SENSOR_NAME_TAG: name}), limit=lookback):
        last = (run.tags.get(RUN_KEY_TAG) or "").rsplit(":", 1)[-1]
        if last.isdigit():
            newest = max(newest, int(last))
    if not newest:
        return None
    context.log.info(f"Empty cursor: resuming after event {newest}, the newest answered")
    return json.dumps({key.to_user_string(): newest for key in keys}, sort_keys=True)
