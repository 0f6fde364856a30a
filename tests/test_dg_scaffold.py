"""`dg scaffold defs` writes a new area in the locations' shape, and the location loads it.

Each location is a dg project whose ``definitions.py`` walks ``defs/``: what ``dg
scaffold`` writes there is a definition of the location with nothing else to edit.
``platform_shared.scaffolding.area`` (registered in each location's ``pyproject.toml``)
writes the area the way every location lays one out; dg's own ``dagster.asset`` puts a
file beside the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_stack import shape
from tests.checkout import copy_checkout

pytestmark = [pytest.mark.processes, pytest.mark.slow]

# (location, area under defs/, a module already there)
AREAS = [
    ("ingestion", "feeds", "assets.py"),
    ("transformation", "sales", "assets.py"),
    ("analytics", "sales", "assets.py"),
]

LIST_KEYS = (
    "import json; from {location}.definitions import defs; "
    "print(json.dumps(sorted(k.to_user_string() "
    "for k in defs.resolve_asset_graph().get_all_asset_keys())))"
)


def _asset_keys(root: Path, location: str, source: Path) -> list[str]:
    # The location's own environment, with the copy's sources ahead of its editable install.
    loaded = subprocess.run(
        [
            str(root / ".venvs" / location / "bin" / "python"),
            "-c",
            LIST_KEYS.format(location=location),
        ],
        env={**os.environ, "PYTHONPATH": str(source)},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(loaded.stdout)


def _scaffold(project: Path, *argv: str) -> None:
    dg = Path(sys.executable).parent / "dg"
    scaffolded = subprocess.run(
        [str(dg), "scaffold", "defs", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scaffolded.returncode == 0, scaffolded.stderr[-2000:]


@pytest.mark.parametrize("location", [location for location, _, _ in AREAS])
def test_a_scaffolded_area_has_the_shape_and_loads(
    tmp_path: Path, pytestconfig: pytest.Config, location: str
) -> None:
    root = pytestconfig.rootpath
    copy_checkout(root, tmp_path)
    project = tmp_path / "locations" / location
    before = _asset_keys(root, location, project / "src")

    _scaffold(project, "platform_shared.scaffolding.area", "margins")

    area = project / "src" / location / "defs" / "margins"
    assert sorted(p.relative_to(area).as_posix() for p in area.rglob("*") if p.is_file()) == [
        "__init__.py",
        "assets.py",
        "sql/margins_table.create.sql",
        "sql/margins_table.insert.sql",
    ]
    assert shape.problems(project) == []
    assert sorted([*before, f"{location}/margins_table"]) == _asset_keys(
        root, location, project / "src"
    )


@pytest.mark.parametrize(("location", "area", "sibling"), AREAS)
def test_a_scaffolded_asset_lands_beside_its_area_and_loads(
    tmp_path: Path, pytestconfig: pytest.Config, location: str, area: str, sibling: str
) -> None:
    root = pytestconfig.rootpath
    copy_checkout(root, tmp_path)
    project = tmp_path / "locations" / location
    area_folder = project / "src" / location / "defs" / area
    assert (area_folder / sibling).is_file()
    before = _asset_keys(root, location, project / "src")

    _scaffold(project, "dagster.asset", f"{area}/margin_watch.py")
    assert (area_folder / "margin_watch.py").is_file()

    after = _asset_keys(root, location, project / "src")
    assert sorted([*before, "margin_watch"]) == after
