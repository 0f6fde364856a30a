"""The shape of a code location: the same name for the same concept in every location.

A newcomer who knows one location finds their way in the others, and ``make
new-location`` and ``dg scaffold defs platform_shared.scaffolding.area`` write this
shape. ``tests/test_layout.py`` checks every location against it. Paths are relative to
``locations/<name>/``; ``{name}`` is the location.
"""

from __future__ import annotations

import re
from pathlib import Path

# Every location has these.
REQUIRED = (
    "README.md",
    "pyproject.toml",
    "src/{name}/__init__.py",
    "src/{name}/definitions.py",  # loads defs/, adds resources
    "src/{name}/keys.py",  # LOCATION, asset keys, groups, tags, owners
    "src/{name}/resources.py",  # RESOURCES bound to every job
    "src/{name}/metadata.py",  # what the location's assets report
    "src/{name}/defs/__init__.py",
    "src/{name}/defs/jobs.py",
    "src/{name}/defs/sensors/__init__.py",
    "src/{name}/defs/sensors/health.py",  # orphaned runs and alert sensors
    "tests/conftest.py",
    "tests/test_definitions_snapshot.py",
    "tests/__snapshots__/test_definitions_snapshot.ambr",
)
# What else may sit directly in defs/ besides the areas (folders with assets.py).
DEFS_MODULES = {"__init__.py", "jobs.py", "schedules.py", "upstream.py"}
# An area: its package, its assets; checks and SQL where it has them.
AREA_REQUIRED = ("__init__.py", "assets.py")

# Where each kind of definition is declared, by the decorator or call that makes it.
DECLARED_IN = {
    r"@dg\.(asset|multi_asset|graph_asset|graph_multi_asset)\b": "defs/<area>/assets.py",
    r"@dg\.(asset_check|multi_asset_check)\b": "defs/<area>/checks.py or assets.py",
    r"@dg\.(job|graph)\b|dg\.define_asset_job\(": "defs/jobs.py or defs/<area>/assets.py",
    r"@dg\.schedule\b|dg\.ScheduleDefinition\(|build_schedule_from": "defs/schedules.py",
    r"@dg\.(sensor|asset_sensor|multi_asset_sensor|run_status_sensor)\b": "defs/sensors/",
}
TEST_NAME = re.compile(r"test_({name}_[a-z0-9_]+|definitions_snapshot)\.py")


def _allowed(kind: str, relative: str) -> bool:
    parts = relative.split("/")
    in_area = len(parts) == 3 and parts[0] == "defs" and parts[1] != "sensors"
    if kind == "defs/<area>/assets.py":
        return in_area and parts[2] == "assets.py"
    if kind.startswith("defs/<area>/checks.py"):
        return in_area and parts[2] in ("checks.py", "assets.py")
    if kind.startswith("defs/jobs.py"):
        # A graph-backed asset's graph sits beside it.
        return relative == "defs/jobs.py" or (in_area and parts[2] == "assets.py")
    if kind == "defs/schedules.py":
        return relative == "defs/schedules.py"
    return relative.startswith("defs/sensors/")


def _sources(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def problems(location_dir: Path) -> list[str]:
    """How ``locations/<name>`` departs from the shape; empty when it has it."""
    name = location_dir.name
    package = location_dir / "src" / name
    found: list[str] = []
    for required in REQUIRED:
        if not (location_dir / required.format(name=name)).is_file():
            found.append(f"missing {required.format(name=name)}")
    defs = package / "defs"
    for entry in sorted(defs.iterdir()) if defs.is_dir() else []:
        if entry.name == "__pycache__":
            continue
        if entry.is_file() and entry.name not in DEFS_MODULES:
            found.append(f"defs/{entry.name}: defs/ holds {sorted(DEFS_MODULES)} and folders")
        if entry.is_dir() and not _sources(entry):
            continue  # left by a checkout that moved the area: only __pycache__ remains
        if entry.is_dir() and entry.name != "sensors":
            found += [
                f"defs/{entry.name}/ has no {f}" for f in AREA_REQUIRED if not (entry / f).is_file()
            ]
    for sql in sorted(location_dir.rglob("*.sql")):
        parts = sql.relative_to(package).parts if sql.is_relative_to(package) else ()
        if not (len(parts) >= 4 and parts[0] == "defs" and parts[2] == "sql"):
            found.append(f"{sql.relative_to(location_dir)}: SQL lives in defs/<area>/sql/")
    for module in sorted(package.rglob("*.py")):
        relative = module.relative_to(package).as_posix()
        text = module.read_text(encoding="utf-8")
        if "importlib.resources" in text:
            found.append(f"{relative}: read SQL with platform_shared.sql.SqlFolder")
        for pattern, kind in DECLARED_IN.items():
            if re.search(pattern, text) and not _allowed(kind, relative):
                found.append(f"{relative}: declares what belongs in {kind}")
    test_name = re.compile(TEST_NAME.pattern.format(name=name))
    tests = location_dir / "tests"
    for test in sorted(tests.glob("test_*.py")) if tests.is_dir() else []:
        if not test_name.fullmatch(test.name):
            found.append(f"tests/{test.name}: name tests test_{name}_<topic>.py")
    return found
