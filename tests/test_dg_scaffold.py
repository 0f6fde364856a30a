"""`dg scaffold defs` puts a new asset beside the existing ones, and the location loads it.

Each location is a dg project whose ``definitions.py`` walks ``defs/``: a file that
``dg scaffold`` writes there is a definition of the location with nothing else to edit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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

    dg = Path(sys.executable).parent / "dg"
    scaffolded = subprocess.run(
        [str(dg), "scaffold", "defs", "dagster.asset", f"{area}/margin_watch.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scaffolded.returncode == 0, scaffolded.stderr[-2000:]
    assert (area_folder / "margin_watch.py").is_file()

    after = _asset_keys(root, location, project / "src")
    assert sorted([*before, "margin_watch"]) == after
