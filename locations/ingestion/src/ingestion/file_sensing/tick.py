"""One evaluation of a file sensor: which files changed, and which of them have settled.

A tick lists the folder and hashes only files whose (size, mtime) differ from the cursor's
record. A version counts once it has settled: its (size, mtime) is unchanged since the
previous tick or, on first sight, untouched for ``QUIET_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from ingestion.file_sensing.history import in_latest_load, loaded_before
from ingestion.file_sensing.state import Candidate, Delivery, FileState, SensorState
from platform_shared.validation import UnsafeInputError, resolve_inside

# A file written in place must not pause longer than this mid-file (deliver by rename
# otherwise). A version read too early is not lost: its completion changes the hash,
# which loads the partition again. The wait happens inside the tick, so it adds at most
# this much to a delivery's latency (a tick later would add a whole daemon pass).
QUIET_SECONDS = 2


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
            known = loaded_before(self.context, relative) or in_latest_load(
                self.context, self.asset_key, candidate
            )
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

    def result(self, run_requests: Sequence[dg.RunRequest]) -> dg.SensorResult:
        if run_requests:
            return dg.SensorResult(run_requests=list(run_requests), cursor=self.next.to_cursor())
        return dg.SensorResult(
            skip_reason="No new or changed landing file", cursor=self.next.to_cursor()
        )
