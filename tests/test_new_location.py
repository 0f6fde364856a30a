"""`make new-location` scaffolds a fourth team that installs, loads and is wired in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from platform_shared.alerts import load_routes
from platform_stack import shape
from platform_stack.scaffold import ScaffoldError, scaffold
from platform_stack.workspace import read_locations
from tests.checkout import copy_checkout

pytestmark = [pytest.mark.processes, pytest.mark.slow]


def test_scaffold_rejects_bad_or_taken_names(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    copy_checkout(pytestconfig.rootpath, tmp_path)
    for name in ["Billing", "x", "class", "json", "ingestion", "../evil"]:
        with pytest.raises(ScaffoldError):
            scaffold(tmp_path, name)


def test_scaffolded_location_installs_loads_and_is_wired_everywhere(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    root = tmp_path / "repo"
    copy_checkout(pytestconfig.rootpath, root)
    written = scaffold(root, "billing")
    assert [loc.name for loc in read_locations(root / "workspace.yaml")][-1] == "billing"
    dg_projects = tomllib.loads((root / "dg.toml").read_text())["workspace"]["projects"]
    assert [p["path"] for p in dg_projects][-1] == "locations/billing"

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
            "print(sorted(k.to_user_string() for k in keys)); "
            "print(sorted(s.name for s in defs.sensors or []))",
        ],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    assets, sensors = loaded.stdout.strip().splitlines()
    assert assets == "['billing/starter_table']"
    assert sensors == "['freshness_alerts', 'orphaned_runs_sensor', 'run_failure_alerts']"

    # The scaffold's own tests in its own environment, as `make new-location` runs them:
    # the first snapshot of its definitions is written, then every test passes.
    python = str(root / ".venvs/billing/bin/python")
    tests = root / "locations/billing/tests"
    first = _pytest(
        root, python, [tests / "test_definitions_snapshot.py"], args=["--snapshot-update"]
    )
    assert first.returncode == 0, first.stdout[-3000:]
    assert "1 snapshot generated" in first.stdout
    own = _pytest(root, python, [root / "locations/billing"])
    assert own.returncode == 0, own.stdout[-3000:]
    summary = own.stdout.splitlines()[-1]
    assert " passed" in summary, summary
    assert "skipped" not in summary, summary
    assert "1 snapshot passed" in own.stdout
    # The shape every location has, as the layout test checks it.
    assert shape.problems(root / "locations/billing") == []

    # No image recipe or Helm file of its own: the ones of every location serve it (the
    # platform release only lists it in its workspace).
    changed = {str(p.relative_to(root)) for p in written}
    assert not [f for f in changed if "Dockerfile" in f]
    assert {f for f in changed if f.startswith("deploy/helm/")} == {"deploy/helm/values.yaml"}
    # Its alerts have a route, and its health sensors report to it.
    route = load_routes(root / "alerts.toml")["team:billing"]
    assert route.webhook_env == "BILLING_ALERTS_WEBHOOK"

    # The deployment consistency checks over four locations, in the copy made a checkout
    # (they read what git tracks), as the new team's first commit would be.
    for git in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *git], cwd=root, check=True, capture_output=True)
    env = {"PYTHONPATH": f"{root / 'locations/billing/src'}{os.pathsep}{root}"}
    deploy_tests = ["test_static.py", "test_one_location_recipe.py"]
    deploy = _pytest(root, sys.executable, [root / "tests/deploy" / f for f in deploy_tests], env)
    assert deploy.returncode == 0, deploy.stdout[-3000:]
    assert " passed" in deploy.stdout.splitlines()[-1]


def _pytest(
    root: Path,
    python: str,
    paths: list[Path],
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    config = ["-c", str(root / "pyproject.toml"), "--rootdir", str(root), *(args or [])]
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *config, *map(str, paths)],
        cwd=root,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
