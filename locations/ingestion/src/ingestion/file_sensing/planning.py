"""From deliveries to run requests: a run per file, or range runs for a backlog."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import dagster as dg

from ingestion.feeds import Feed, is_temporary_name, partition_of
from ingestion.file_sensing.state import Candidate, Delivery
from ingestion.file_sensing.tick import Tick
from ingestion.tags import MANIFEST_TAG, SHA256_TAG, SOURCE_FILE_TAG
from platform_shared.cross_location import partition_ranges, range_tags
from platform_shared.partitions import PARTITIONS_START_DATE, daily_partitions
from platform_shared.validation import UnsafeInputError

# A run per file keeps a bad day's quality gate to that day and each day retryable on
# its own, but costs a run process start (seconds) per file. Past a month of files in
# one tick, the start-ups dominate: the backlog loads as range runs, gated as a whole.
BULK_DELIVERY_FILES = 31
# Bounds how long one range run holds the warehouse and how much a retry redoes.
BULK_RANGE_DAYS = 366


def daily_candidates(tick: Tick, feed: Feed) -> list[Candidate]:
    """Files of a daily feed whose name is a date of an open partition."""
    assert feed.folder is not None
    last_open = daily_partitions.get_last_partition_key()
    candidates = []
    try:
        listed = tick.store.list(feed.folder)
    except UnsafeInputError as exc:  # the feed's folder is a link out of the landing zone
        tick.skip(feed.folder, f"Skipping landing folder {feed.folder}/: {exc}")
        return []
    for file in listed:
        relative = file.name
        name = relative.rpartition("/")[2]
        if is_temporary_name(name):
            continue  # a writer's work in progress, renamed into place when complete
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
        candidate = tick.candidate(file, partition_key)
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
