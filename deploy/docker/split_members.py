"""Move installed distributions out of the running environment into a layer directory.

Run by ``install.sh TARGET VENV --split DIR`` with VENV's own interpreter:

    python -I -B split_members.py DIR DISTRIBUTION...

Each distribution's files (its RECORD, plus the bytecode compiled for its modules) move
to DIR at the same path relative to the environment's prefix, and the folders they leave
empty are removed. What remains is the environment as it was before those distributions
were installed, so an image copies it as a layer that the build cache keeps across code
changes, and DIR as the small layer above it.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from pathlib import Path


def member_files(name: str) -> list[Path]:
    """Every file a distribution installed, with its modules' compiled bytecode."""
    dist = importlib.metadata.distribution(name)
    listed = dist.files
    if not listed:
        raise SystemExit(f"split_members: {name} has no RECORD to move by")
    files: list[Path] = []
    for entry in listed:
        path = Path(str(dist.locate_file(entry)))
        files.append(path)
        if path.suffix == ".py":
            # Bytecode is written after installation, so RECORD does not list it.
            files.extend(sorted((path.parent / "__pycache__").glob(f"{path.stem}.*.pyc")))
    return [f for f in files if f.is_file()]


def split(layer: Path, names: list[str]) -> list[Path]:
    prefix = Path(sys.prefix)
    files = [f for name in names for f in member_files(name)]
    outside = [f for f in files if not f.is_relative_to(prefix)]
    if outside:
        raise SystemExit(f"split_members: files outside {prefix}: {outside[:3]}")
    for path in files:
        target = layer / path.relative_to(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    # Deepest first, so a package folder goes before the folder that held it.
    for folder in sorted({f.parent for f in files}, key=lambda p: len(p.parts), reverse=True):
        while folder != prefix and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    return files


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: split_members.py DIR DISTRIBUTION...", file=sys.stderr)
        return 2
    moved = split(Path(argv[0]), argv[1:])
    print(f"split_members: {len(moved)} files of {', '.join(argv[1:])} moved to {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
