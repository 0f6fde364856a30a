"""A copy of the working tree for tests that scaffold into it or start tools at its root."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_checkout(root: Path, target: Path) -> None:
    """Copy the files git tracks or would track (untracked, not ignored) under ``root``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = root / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
