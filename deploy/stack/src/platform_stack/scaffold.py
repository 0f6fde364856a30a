"""Scaffold a new team's code location wired into every place a location appears.

The package has the shape of every location (:mod:`platform_stack.shape`): keys,
resources, metadata, a short ``definitions.py`` loading ``defs/``, a job, the health
sensor, a starter area written as ``dg scaffold defs platform_shared.scaffolding.area``
writes one, and the tests every location has (the definitions snapshot among them). Its
image and its Helm release need no file of their own: every location is built from
``deploy/docker/location.Dockerfile`` and released from ``deploy/helm/user-deployment.yaml``,
both named by the location, and CI finds it in ``workspace.yaml``
(``deploy/ci/changed_locations.py``). The shared files (workspace, compose, Helm
workspace, root pyproject) get one entry each.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import tomllib
from pathlib import Path

from platform_shared.scaffolding import write_area
from platform_stack.workspace import read_locations

NAME = re.compile(r"[a-z][a-z0-9_]{2,30}")

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
description = "The {name} team's code location."
requires-python = ">=3.11"
dependencies = ["platform-shared"]

[dependency-groups]
# The location's tests run in its own environment (`make test-{name}`), beside nothing
# of the other locations.
test = {test_group}

[tool.uv.sources]
platform-shared = {{ workspace = true }}

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{name}"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{name}"
code_location_target_module = "{name}.definitions"
code_location_name = "{name}"
"""

README = """\
# {name}

The {name} team's code location: asset keys `{name}/...`, warehouse schema `{name}`.
It has the shape of every location (the root README, "A location's layout"):

```
src/{name}/
  definitions.py        defs folder + resources + executor
  keys.py               LOCATION, asset keys, groups, tags, owners
  resources.py          RESOURCES bound to every job
  metadata.py           what the assets report
  defs/
    starter/            assets.py, sql/ (the starter table)
    jobs.py             {name}_job
    sensors/            health.py (orphaned runs, alerts)
tests/                  conftest.py, test_definitions_snapshot.py (+ __snapshots__/),
                        test_{name}_<topic>.py
```

- A new area: `dg scaffold defs platform_shared.scaffolding.area <area>`, run in this
  folder, writes `defs/<area>/` (assets, SQL) and adds its key and group to `keys.py`.
- Other teams' assets are referenced by `AssetKey` only (declare them as `AssetSpec`s in
  `defs/upstream.py`).
- Tests: `make test-{name}`. A change to what the location declares shows as a diff of
  `tests/__snapshots__/`; after review, `pytest --snapshot-update` writes the new one.
"""

KEYS = """\
\"\"\"Keys, groups and owners of the {name} location's assets.\"\"\"

from platform_shared.naming import asset_key, group_name

LOCATION = "{name}"
OWNERS = [f"team:{{LOCATION}}"]
"""

RESOURCES = """\
\"\"\"The location's resources: bound to every job, not definitions of their own.\"\"\"

from platform_shared.resources import warehouse

RESOURCES = {{"warehouse": warehouse()}}
"""

METADATA = """\
\"\"\"What the {name} location's assets report besides ``platform_shared.metadata``.\"\"\"
"""

DEFINITIONS = """\
\"\"\"The {name} code location.\"\"\"

import dagster as dg

from {name} import defs as defs_package
from {name}.resources import RESOURCES
from platform_shared.defs_folder import load_defs_folder

defs = dg.Definitions.merge(
    load_defs_folder(defs_package),
    dg.Definitions(resources=RESOURCES, executor=dg.in_process_executor),
)
"""

JOBS = """\
\"\"\"Jobs of the {name} location.\"\"\"

import dagster as dg

from {name}.keys import LOCATION

{name}_job = dg.define_asset_job(
    name="{name}_job",
    selection=dg.AssetSelection.key_prefixes([LOCATION]),
    description="Rebuild every asset of the {name} location.",
)
"""

HEALTH = """\
\"\"\"The location's operational sensors (platform_shared.run_health, platform_shared.alerts):
fail runs whose worker died with its code server so they are retried, and tell this
team's owners about failed runs and overdue tables.\"\"\"

from {name}.keys import LOCATION, OWNERS
from platform_shared.alerts import freshness_alerts_sensor, run_failure_alerts_sensor
from platform_shared.run_health import orphaned_runs_sensor

orphaned_runs = orphaned_runs_sensor(LOCATION)
run_failure_alerts = run_failure_alerts_sensor(LOCATION, OWNERS)
freshness_alerts = freshness_alerts_sensor(LOCATION)
"""

CONFTEST = """\
\"\"\"Fixtures: an empty warehouse on each lake catalog the session covers.\"\"\"

from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_shared.resources import WarehouseResource
from platform_shared.testing import catalogs, temporary_warehouse


@pytest.fixture(params=catalogs())
def warehouse(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WarehouseResource]:
    with temporary_warehouse(tmp_path / "warehouse", request.param) as lake:
        yield lake
"""

SNAPSHOT_TEST = """\
\"\"\"Everything the location declares, compared with its reviewed snapshot.

A change to an asset, check, job, schedule or sensor shows in
``__snapshots__/test_definitions_snapshot.ambr``; after review, ``pytest
--snapshot-update`` on this file writes the new one.
\"\"\"

from syrupy.assertion import SnapshotAssertion

from {name}.definitions import defs
from platform_shared.testing import definitions_snapshot


def test_definitions_match_the_snapshot(snapshot: SnapshotAssertion) -> None:
    assert definitions_snapshot(defs) == snapshot
"""

ASSETS_TEST = """\
\"\"\"The starter asset writes the location's own schema, one row naming its run.\"\"\"

import dagster as dg

from {name}.definitions import defs
from {name}.defs.starter.assets import starter_table
from platform_shared.resources import WarehouseResource


def test_every_asset_key_starts_with_the_location_name() -> None:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert keys == {{dg.AssetKey(["{name}", "starter_table"])}}


def test_the_starter_table_holds_one_row_naming_its_run(warehouse: WarehouseResource) -> None:
    first = dg.materialize([starter_table], resources={{"warehouse": warehouse}})
    again = dg.materialize([starter_table], resources={{"warehouse": warehouse}})
    with warehouse.get_connection() as conn:
        rows = conn.execute("SELECT run_id FROM {name}.starter_table").fetchall()
    assert rows == [(again.run_id,)]
    assert first.run_id != again.run_id
    [event] = again.asset_materializations_for_node(starter_table.op.name)
    assert event.metadata["dagster/row_count"].value == 1
"""


class ScaffoldError(ValueError):
    pass


def _replace_name(text: str, old: str, new: str) -> str:
    text = re.sub(rf"\b{old}\b", new, text)
    return re.sub(rf"\b{old.upper()}\b", new.upper(), text)


def _insert_after_last(text: str, pattern: str, addition: str, what: str) -> str:
    matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
    if not matches:
        raise ScaffoldError(f"cannot find where to add the location in {what}")
    end = matches[-1].end()
    return text[:end] + addition + text[end:]


def scaffold(root: Path, name: str) -> list[Path]:
    """Create location ``name`` under ``root``; returns the files written or changed."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name) or name in sys.stdlib_module_names:
        raise ScaffoldError(
            f"{name!r} is not a usable location name: lowercase letters, digits and _, "
            "3-31 characters, not a Python keyword or standard-library module"
        )
    locations = read_locations(root / "workspace.yaml")
    if name in {loc.name for loc in locations} or (root / "locations" / name).exists():
        raise ScaffoldError(f"location {name!r} exists already")
    template = locations[0].name
    written: list[Path] = []

    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)

    package = root / "locations" / name
    # The test tools as pinned for the other locations.
    template_project = tomllib.loads((root / "locations" / template / "pyproject.toml").read_text())
    test_group = json.dumps(template_project["dependency-groups"]["test"])
    write(package / "pyproject.toml", PYPROJECT.format(name=name, test_group=test_group))
    write(package / "README.md", README.format(name=name))
    src = package / "src" / name
    write(src / "__init__.py", f'"""The {name} team\'s code location."""\n')
    write(src / "keys.py", KEYS.format(name=name))
    write(src / "resources.py", RESOURCES.format(name=name))
    write(src / "metadata.py", METADATA.format(name=name))
    write(src / "definitions.py", DEFINITIONS.format(name=name))
    defs = src / "defs"
    write(
        defs / "__init__.py",
        f'"""Every definition of the {name} location, found by walking this package."""\n',
    )
    write(defs / "jobs.py", JOBS.format(name=name))
    write(defs / "sensors" / "__init__.py", '"""The location\'s sensors."""\n')
    write(defs / "sensors" / "health.py", HEALTH.format(name=name))
    # The starter area, written as `dg scaffold defs platform_shared.scaffolding.area` does.
    written.extend(write_area(src, "starter"))
    tests = package / "tests"
    write(tests / "conftest.py", CONFTEST.format(name=name))
    write(tests / "test_definitions_snapshot.py", SNAPSHOT_TEST.format(name=name))
    write(tests / f"test_{name}_assets.py", ASSETS_TEST.format(name=name))
    # tests/__snapshots__/ is written by `make new-location` (pytest --snapshot-update).

    upper = name.upper()
    workspace = root / "workspace.yaml"
    write(
        workspace,
        workspace.read_text().rstrip("\n") + f"\n  - grpc_server:\n      location_name: {name}\n"
        f"      host: {{env: {upper}_CODE_SERVER_HOST}}\n"
        f"      port: {{env: {upper}_CODE_SERVER_PORT}}\n",
    )

    dg_file = root / "dg.toml"
    write(
        dg_file,
        _insert_after_last(
            dg_file.read_text(),
            r'^    \{ path = "locations/[a-z0-9_]+" \},$',
            f'\n    {{ path = "locations/{name}" }},',
            "the projects of dg.toml",
        ),
    )

    compose_file = root / "docker-compose.yml"
    compose = compose_file.read_text()
    compose = _insert_after_last(
        compose,
        r"^  [A-Z0-9_]+_CODE_SERVER_PORT: \"4000\"$",
        f'\n  {upper}_CODE_SERVER_HOST: {name}\n  {upper}_CODE_SERVER_PORT: "4000"',
        "x-workspace-env of docker-compose.yml",
    )
    compose = _insert_after_last(
        compose,
        r"^x-host-depends-on: &host-depends-on\n(?:  .*\n)+",
        f"  {name}:\n    condition: service_healthy\n",
        "x-host-depends-on of docker-compose.yml",
    )
    services_at = compose.index("\nservices:\n")
    service = re.search(
        rf"^  {template}:\n(?:    .*\n|\s*\n(?=    ))+", compose[services_at:], flags=re.MULTILINE
    )
    if service is None:
        raise ScaffoldError(f"no service {template!r} to copy in docker-compose.yml")
    block = _replace_name(service.group(0), template, name)
    compose = compose.replace("\n  webserver:\n", f"\n{block.rstrip()}\n\n  webserver:\n", 1)
    write(compose_file, compose)

    values_file = root / "deploy" / "helm" / "values.yaml"
    write(
        values_file,
        _insert_after_last(
            values_file.read_text(),
            r"^      - host: [a-z0-9_]+\n        port: 4000\n        name: [a-z0-9_]+$",
            f"\n      - host: {name}\n        port: 4000\n        name: {name}",
            "dagsterWebserver.workspace.servers of deploy/helm/values.yaml",
        ),
    )

    dockerignore = root / ".dockerignore"
    write(
        dockerignore,
        _insert_after_last(
            dockerignore.read_text(),
            r"^!locations/[a-z0-9_]+/src/$",
            f"\n!locations/{name}/pyproject.toml\n!locations/{name}/src/",
            "the locations of .dockerignore",
        ),
    )

    # Where the new team's alerts go: placeholders the team replaces in the same review.
    routes_file = root / "alerts.toml"
    write(
        routes_file,
        routes_file.read_text().rstrip("\n")
        + f'\n\n[routes."team:{name}"]\nemail = ["data-{name}@example.com"]\n'
        f'webhook_env = "{upper}_ALERTS_WEBHOOK"\n',
    )

    pyproject_file = root / "pyproject.toml"
    pyproject = pyproject_file.read_text()
    pyproject = pyproject.replace(
        '    "platform-stack",\n]', f'    "platform-stack",\n    "{name}",\n]', 1
    )
    pyproject = pyproject.replace(
        "platform-stack = { workspace = true }\n",
        f"platform-stack = {{ workspace = true }}\n{name} = {{ workspace = true }}\n",
        1,
    )
    write(pyproject_file, pyproject)
    return written
