"""From upstream materializations to a bounded set of run requests, each launched once.

A tick of a partition sensor goes through these steps:

1. ``read_materializations``: the events recorded since the cursor;
2. hold back the events of runs still in progress: their blocking checks may not be on
   record yet (the key's cursor stays before them, the next tick looks again);
3. ``usable_records``: drop the events of runs in which a blocking check failed;
4. cover the partitions to rebuild with at most a few contiguous ranges, never reaching
   into a partition whose newest event failed its blocking check;
5. one request per range, with range tags (one run processes the whole range) and a run
   key derived from the events it answers, so the daemon launches it exactly once.

Sensors pass ``recover_cursor(context, keys)`` as the cursor, so an emptied cursor
resumes after the events their runs already answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
from dagster import EventLogRecord

from platform_shared.cross_location import (
    UpstreamEvents,
    partition_ranges,
    range_tags,
    read_materializations,
    run_key,
    runs_in_progress,
    usable_records,
)


@dataclass(frozen=True)
class UpstreamBatch:
    """What a tick may act on, and the cursor to store once it has."""

    records: list[EventLogRecord]
    """Usable events: from finished runs whose blocking checks passed."""
    partitions: frozenset[str]
    """Partitions whose newest event in the batch is usable."""
    blocked: frozenset[str]
    """Partitions whose newest event in the batch comes from a run that failed a check."""
    held_back: int
    """Events left for a later tick because their run is still in progress."""
    cursor: str


def read_batch(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey], cursor: str | None
) -> UpstreamBatch:
    events, held_back = _settled(instance, read_materializations(instance, keys, cursor), cursor)
    usable = usable_records(instance, events)
    usable_ids = {r.storage_id for r in usable}
    newest: dict[str, EventLogRecord] = {}
    for record in events.records:  # ascending storage ids: the last one wins
        if record.partition_key:
            newest[record.partition_key] = record
    return UpstreamBatch(
        records=usable,
        partitions=frozenset(p for p, r in newest.items() if r.storage_id in usable_ids),
        blocked=frozenset(p for p, r in newest.items() if r.storage_id not in usable_ids),
        held_back=held_back,
        cursor=events.cursor,
    )


def _settled(
    instance: dg.DagsterInstance, events: UpstreamEvents, cursor: str | None
) -> tuple[UpstreamEvents, int]:
    """Drop the events of unfinished runs, and of later events of the same key.

    The cursor of a key stops just before its first held-back event (it keeps the
    ``read_materializations`` format: newest consumed storage id per key). Events without
    a run (reported through the API) have nothing to wait for.
    """
    in_progress = runs_in_progress(instance, (r.run_id for r in events.records))
    if not in_progress:
        return events, 0
    positions: dict[str, int] = json.loads(cursor) if cursor else {}
    kept: list[EventLogRecord] = []
    waiting: set[str] = set()
    for record in events.records:
        name = record.asset_key.to_user_string() if record.asset_key else ""
        if name in waiting or record.run_id in in_progress:
            waiting.add(name)
            continue
        kept.append(record)
        positions[name] = record.storage_id
    settled = UpstreamEvents(records=kept, cursor=json.dumps(positions, sort_keys=True))
    return settled, len(events.records) - len(kept)


def rebuild_ranges(
    batch: UpstreamBatch, partitions_def: dg.TimeWindowPartitionsDefinition, *, max_ranges: int
) -> list[dg.PartitionKeyRange]:
    """At most ``max_ranges`` ranges covering the batch's partitions (more only when a
    blocked partition splits a range: a blocked partition is never rebuilt)."""
    ranges = partition_ranges(batch.partitions, partitions_def, max_ranges=max_ranges)
    if not batch.blocked:
        return ranges
    result: list[dg.PartitionKeyRange] = []
    for key_range in ranges:
        piece: list[str] = []
        for key in [*partitions_def.get_partition_keys_in_range(key_range), None]:
            if key is not None and key not in batch.blocked:
                piece.append(key)
                continue
            wanted = [k for k in piece if k in batch.partitions]
            if wanted:
                result.append(dg.PartitionKeyRange(wanted[0], wanted[-1]))
            piece = []
    return result


def range_requests(
    batch: UpstreamBatch,
    *,
    job_name: str,
    prefix: str,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    max_ranges: int,
    tags_for: Callable[[dg.PartitionKeyRange], dict[str, str]] = range_tags,
) -> list[dg.RunRequest]:
    """One run request per range of ``rebuild_ranges``.

    ``tags_for`` turns a range of ``partitions_def`` keys into the run's range tags (a
    job whose assets are partitioned differently needs the range in its own keys).
    """
    requests = []
    for key_range in rebuild_ranges(batch, partitions_def, max_ranges=max_ranges):
        inside = set(partitions_def.get_partition_keys_in_range(key_range))
        answered = [r for r in batch.records if r.partition_key in inside]
        requests.append(
            dg.RunRequest(
                run_key=run_key(prefix, answered, key_range.start, key_range.end),
                job_name=job_name,
                tags=tags_for(key_range),
            )
        )
    return requests
