"""One evaluation of a file sensor: which files changed, and which of them have settled.

A tick lists the landing zone (a folder or a bucket prefix) and hashes only files whose
(size, version) differ from the cursor's record. In a folder a version counts once it has
settled: its (size, version) is unchanged since the previous tick or, on first sight,
untouched for ``QUIET_SECONDS``. An object is whole once listed: an upload is never
visible half done.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import dagster as dg

from ingestion.file_sensing.history import in_latest_load, loaded_before
from ingestion.file_sensing.state import Candidate, Delivery, FileState, SensorState
from platform_shared.storage import Store, StoredFile
from platform_shared.validation import UnsafeInputError

# A file written in place must not pause longer than this mid-file (deliver by rename
# otherwise). A version read too early is not lost: its completion changes the hash,
# which loads the partition again. The wait happens inside the tick, so it adds at most
# this much to a delivery's latency (a tick later would add a whole daemon pass).
QUIET_SECONDS = 2


def pause(seconds: float) -> None:
    """Sleep while a just-written file ages (replaced in tests to act as a writer)."""
    time.sleep(seconds)


def _sha256(store: Store, name: str) -> str:
    return store.sha256(name)


def _stamp(file: StoredFile) -> tuple[int, str]:
    return file.size, file.version


class Tick:
    """One sensor evaluation: reads the previous state and builds the next one."""

    def __init__(
        self,
        context: dg.SensorEvaluationContext,
        store: Store,
        asset_key: dg.AssetKey | None = None,
    ) -> None:
        self.log = context.log
        self.store = store
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

    def candidate(self, file: StoredFile, partition_key: str | None = None) -> Candidate | None:
        """``file`` as a validated regular file inside the landing zone, or skipped."""
        relative = file.name
        try:
            self.store.check(relative)
        except UnsafeInputError as exc:
            self.skip(relative, f"Skipping landing file: {exc}")
            return None
        if not file.is_file:
            self.skip(relative, f"Skipping landing file {relative!r}: not a regular file")
            return None
        return Candidate(file, partition_key)

    def observe(self, candidate: Candidate) -> Delivery | None:
        """A delivery if ``candidate`` holds a settled version not requested before."""
        relative, file = candidate.relative, candidate.file
        known = self.previous.files.get(relative)
        if known is not None and (known.size, known.version) == _stamp(file):
            return None
        try:
            if self.store.partial_writes_visible:
                settled, file = self._settle(file)
                if not settled:
                    self.next.unsettled[relative] = _stamp(file)
                    self.log.info(f"{relative} is changing; it will be read once it settles")
                    return None
            sha256 = _sha256(self.store, relative)
            after = self.store.stat(relative)
        except FileNotFoundError:
            return None  # removed since the listing; nothing to do
        except (OSError, UnsafeInputError) as exc:  # unreadable, or a link moved out since
            self.skip(relative, f"Skipping landing file {relative!r}: {exc}")
            return None
        if after is None:
            return None
        if _stamp(after) != _stamp(file):  # written to while being hashed
            if self.store.partial_writes_visible:
                self.next.unsettled[relative] = _stamp(after)
            return None  # a replaced object: the next tick sees its new version
        if known is None:
            known = loaded_before(self.context, relative) or in_latest_load(
                self.context, self.asset_key, candidate
            )
        if known is not None and known.sha256 == sha256:
            self.next.files[relative] = dataclasses.replace(
                known, size=file.size, version=file.version
            )
            self.log.info(f"{relative} was re-delivered with identical content; nothing to load")
            return None
        deliveries = (known.deliveries if known else 0) + 1
        state = FileState(
            sha256=sha256, size=file.size, version=file.version, deliveries=deliveries
        )
        self.next.files[relative] = state
        return Delivery(candidate, state)

    def _settle(self, file: StoredFile) -> tuple[bool, StoredFile]:
        """Whether ``file``'s version has settled, and the file as last seen."""
        seen = self.previous.unsettled.get(file.name)
        if seen is not None:
            return seen == _stamp(file), file
        young = QUIET_SECONDS - (time.time() - file.modified)
        if young <= 0:
            return True, file
        # Bounded even for an mtime in the future; files looked at later in the tick
        # have aged meanwhile, so a tick waits at most QUIET_SECONDS in all.
        pause(min(young, QUIET_SECONDS))
        after = self.store.stat(file.name)
        if after is None:
            raise FileNotFoundError(file.name)
        return _stamp(after) == _stamp(file), after

    def result(self, run_requests: Sequence[dg.RunRequest]) -> dg.SensorResult:
        if run_requests:
            return dg.SensorResult(run_requests=list(run_requests), cursor=self.next.to_cursor())
        return dg.SensorResult(
            skip_reason="No new or changed landing file", cursor=self.next.to_cursor()
        )
