"""What a file sensor knows about landing files: its cursor's per-file state, the files
it may load (candidates) and the new versions it requests (deliveries)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from platform_shared.storage import StoredFile

# Version 1 kept a file's mtime_ns where version 2 keeps the store's version stamp (the
# same number, as text, for a folder); a version 1 cursor is read as version 2.
CURSOR_VERSION = 2


@dataclass(frozen=True)
class FileState:
    """The version of a file the sensor last requested or confirmed."""

    sha256: str
    size: int
    version: str  # the store's stamp: a folder file's mtime_ns, an object's ETag and time
    deliveries: int  # versions requested so far: part of the run key


@dataclass
class SensorState:
    """What the cursor holds, keyed by path relative to the landing folder."""

    files: dict[str, FileState] = field(default_factory=dict)
    # (size, version) of changed files the last tick saw but did not read yet.
    unsettled: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Names reported as skipped by the last tick: each is reported once while it stays.
    skipped: set[str] = field(default_factory=set)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        if not isinstance(data, dict) or data.get("version") not in (1, CURSOR_VERSION):
            raise ValueError(f"not a version {CURSOR_VERSION} cursor: {cursor[:80]!r}")
        files = {
            name: FileState(
                sha256=state["sha256"],
                size=state["size"],
                # Version 1 had the mtime_ns where version 2 has the version stamp.
                version=str(state["version"] if "version" in state else state["mtime_ns"]),
                deliveries=state["deliveries"],
            )
            for name, state in data["files"].items()
        }
        return cls(
            files=files,
            unsettled={name: (s[0], str(s[1])) for name, s in data["unsettled"].items()},
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
    """A landing file whose name and location passed validation, as the listing saw it."""

    file: StoredFile
    partition_key: str | None = None

    @property
    def relative(self) -> str:
        return self.file.name


@dataclass(frozen=True)
class Delivery:
    """A new file version to load."""

    candidate: Candidate
    state: FileState
