"""`make upgrade-dagster`: one place holds every Dagster pin, and the script moves them all."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from platform_instance.dagster_private import TESTED_DAGSTER_VERSIONS
from tests.deploy.deploy_support import ROOT, load_script

upgrade = load_script("deploy/upgrade_dagster.py")
DAGSTER_REQUIREMENT = re.compile(r"^(dagster(?:-[a-z0-9-]+)?)\s*(.*)$")


def _member_pyprojects() -> list[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    found = ["pyproject.toml"]
    for member in members:
        found += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(f"{member}/pyproject.toml"))
    return found


def _requirements(project: dict) -> list[str]:
    found = list(project.get("project", {}).get("dependencies", []))
    for group in project.get("dependency-groups", {}).values():
        found += [r for r in group if isinstance(r, str)]
    return found


def test_dagster_packages_are_pinned_only_in_the_root_constraints() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    constraints = root["tool"]["uv"]["constraint-dependencies"]
    pinned = {}
    for requirement in constraints:
        match = DAGSTER_REQUIREMENT.match(requirement)
        if match:
            pinned[match[1]] = match[2]
    assert set(pinned) == set(upgrade.CORE) | set(upgrade.LIBRARIES)
    core = pinned["dagster"].removeprefix("==")
    assert all(pinned[name] == f"=={core}" for name in upgrade.CORE)
    assert all(pinned[name] == f"=={upgrade.library_version(core)}" for name in upgrade.LIBRARIES)
    assert core in TESTED_DAGSTER_VERSIONS
    members = _member_pyprojects()
    assert {"locations/transformation/pyproject.toml", "bench/pyproject.toml"} <= set(members)
    for relpath in members:
        for requirement in _requirements(tomllib.loads((ROOT / relpath).read_text())):
            match = DAGSTER_REQUIREMENT.match(requirement)
            if match and match[1] in pinned:
                assert not match[2], f"{relpath}: {requirement} (pin it in the root constraints)"


def test_the_script_moves_every_pin_and_nothing_else() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    current = next(v for v in TESTED_DAGSTER_VERSIONS)
    assert upgrade.bump_pins(text, current) == text
    moved = upgrade.bump_pins(text, "1.14.3")
    changed = [
        (old, new)
        for old, new in zip(text.splitlines(), moved.splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == len(upgrade.CORE) + len(upgrade.LIBRARIES)
    assert all(("1.14.3" in new) or ("0.30.3" in new) for _, new in changed)


def test_the_script_adds_the_release_to_the_tested_versions() -> None:
    text = (ROOT / upgrade.FENCE).read_text()
    added = upgrade.add_tested(text, "1.14.3")
    assert f'TESTED_DAGSTER_VERSIONS = ("{TESTED_DAGSTER_VERSIONS[0]}", "1.14.3")' in added
    assert upgrade.add_tested(added, "1.14.3") == added


def test_the_script_refuses_what_is_not_a_release() -> None:
    with pytest.raises(SystemExit, match=r"not a Dagster 1\.x release"):
        upgrade.library_version("latest")


@pytest.mark.processes
@pytest.mark.parametrize(
    ("args", "message"),
    [([], "usage: make upgrade-dagster"), (["VERSION=latest"], "not a Dagster 1.x release")],
)
def test_make_upgrade_dagster_refuses_before_touching_anything(
    args: list[str], message: str
) -> None:
    before = {p: (ROOT / p).read_bytes() for p in ("pyproject.toml", "uv.lock", str(upgrade.FENCE))}
    result = subprocess.run(
        ["make", "--no-print-directory", "upgrade-dagster", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert {p: (ROOT / p).read_bytes() for p in before} == before
