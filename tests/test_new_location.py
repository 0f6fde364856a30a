"""`make new-location` scaffolds a fourth team that installs, loads and is wired in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from platform_stack.scaffold import ScaffoldError, scaffold
from platform_stack.workspace import read_locations

pytestmark = pytest.mark.slow


def _copy_repository(root: Path, target: Path) -> None:
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_scaffold_rejects_bad_or_taken_names(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    _copy_repository(pytestconfig.rootpath, tmp_path)
    for name in ["Billing", "x", "class", "json", "ingestion", "../evil"]:
        with pytest.raises(ScaffoldError):
            scaffold(tmp_path, name)


def test_scaffolded_location_installs_loads_and_is_wired_everywhere(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    root = tmp_path / "repo"
    _copy_repository(pytestconfig.rootpath, root)
    scaffold(root, "billing")
    assert [loc.name for loc in read_locations(root / "workspace.yaml")][-1] == "billing"

    uv = shutil.which("uv") or str(pytestconfig.rootpath / ".tools" / "bin" / "uv")
    subprocess.run([uv, "lock", "--quiet"], cwd=root, check=True)
    assert 'name = "billing"' in (root / "uv.lock").read_text()

    # Its own environment, by the same recipe as its image: it loads alone.
    subprocess.run(
        ["sh", "deploy/docker/install.sh", "billing", ".venvs/billing", "--editable"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    loaded = subprocess.run(
        [
            str(root / ".venvs/billing/bin/python"),
            "-c",
            "from billing.definitions import defs; "
            "keys = defs.resolve_asset_graph().get_all_asset_keys(); "
            "print(sorted(k.to_user_string() for k in keys))",
        ],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    assert loaded.stdout.strip() == "['billing/location_heartbeat']"

    # The scaffold's own tests, and the deployment consistency checks over four locations.
    env = {**os.environ, "PYTHONPATH": f"{root / 'locations/billing/src'}{os.pathsep}{root}"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(root / "pyproject.toml"),
            "--rootdir",
            str(root),
            str(root / "locations/billing"),
            str(root / "tests/deploy/test_static.py"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
