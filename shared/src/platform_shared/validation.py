"""Input validation done before any SQL or file access.

Untrusted values (file names from the landing folder, partition keys from run tags) are
checked here and rejected with a message that says why; callers log it and move on.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class UnsafeInputError(ValueError):
    """A value that must not reach SQL or the file system."""


def parse_partition_date(key: str, what: str = "partition key") -> dt.date:
    """A ``YYYY-MM-DD`` value (``what`` names it in the error) as a date.

    Raises ``UnsafeInputError`` for anything else.
    """
    if not isinstance(key, str) or not _DATE.fullmatch(key):
        raise UnsafeInputError(f"{what} {key!r} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(key)
    except ValueError as exc:
        raise UnsafeInputError(f"{what} {key!r} is not a valid date: {exc}") from exc


def checked_name(name: str) -> str:
    """``name`` if it is a plain relative name, the same in a folder and in a bucket: no
    empty, ``.`` or ``..`` part, no leading slash or backslash, no control character
    (newlines in a name would forge log lines)."""
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise UnsafeInputError(f"file name {name!r} is empty or has control characters")
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise UnsafeInputError(f"file name {name!r} escapes the landing folder")
    return name


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative`` if ``relative`` is a :func:`checked_name` and the path stays
    inside ``root`` once symlinks are resolved."""
    candidate = Path(checked_name(relative))
    root_resolved = root.resolve()
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root_resolved):
        raise UnsafeInputError(f"file {relative!r} resolves outside the landing folder")
    return resolved
