"""Which code locations a change touches, as the JSON list CI's location matrix runs.

A location is touched by a change to its own folder, or, like every location, by a change
to what all of them are built from (``BUILT_FROM``). Locations are read from
``workspace.yaml``, so a new location is tested and built with no workflow of its own.

    python3 deploy/ci/changed_locations.py [BASE]

compares ``BASE`` with ``HEAD``; without a usable base (a manual run, a new branch) every
location is listed. Standard library only: the CI job runs it before installing anything.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What every location's environment and image are built from.
BUILT_FROM = (
    "shared/**",
    "deploy/instance/**",
    "uv.lock",
    "pyproject.toml",
    "dagster.yaml",
    "workspace.yaml",
    "alerts.toml",
    "Makefile",
    ".dockerignore",
    "deploy/docker/install.sh",
    "deploy/docker/split_members.py",
    "deploy/docker/location.Dockerfile",
    "deploy/ci/changed_locations.py",
    ".github/workflows/locations.yml",
    ".github/workflows/_location.yml",
)


def locations(workspace: Path) -> list[str]:
    """The location names of ``workspace.yaml``, in its order."""
    return re.findall(r"^\s*location_name:\s*(\S+)\s*$", workspace.read_text(), re.MULTILINE)


def touched(files: Iterable[str], names: list[str]) -> list[str]:
    """The locations among ``names`` that the changed ``files`` touch, in ``names``' order."""
    files = list(files)
    if any(fnmatch.fnmatch(f, pattern) for f in files for pattern in BUILT_FROM):
        return list(names)
    return [name for name in names if any(f.startswith(f"locations/{name}/") for f in files)]


def _changed_files(base: str) -> list[str] | None:
    if not base or set(base) == {"0"}:
        return None
    diff = subprocess.run(
        ["git", "diff", "--name-only", base, "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return diff.stdout.splitlines() if diff.returncode == 0 else None


def main(argv: list[str]) -> int:
    names = locations(ROOT / "workspace.yaml")
    files = _changed_files(argv[1] if len(argv) > 1 else "")
    print(json.dumps(names if files is None else touched(files, names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
