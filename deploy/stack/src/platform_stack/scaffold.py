"""Scaffold a new team's code location wired into every place a location appears.

The package comes from a small template in the shape of the other locations: a short
``definitions.py`` loading ``defs/``, one starter asset, one test. Its image and its Helm
release need no file of their own: every location is built from
``deploy/docker/location.Dockerfile`` and released from ``deploy/helm/user-deployment.yaml``,
both named by the location. Its CI workflow is a copy of the first location's with the
name replaced. The shared files (workspace, compose, Helm workspace, root pyproject) get
one entry each.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import tomllib
from pathlib import Path

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

- `src/{name}/definitions.py` loads everything under `src/{name}/defs/` and adds the
  location's resources; nothing is listed by hand.
- `src/{name}/defs/<area>/`: one folder per thing the team looks for (the starter is
  `defs/starter/`), SQL beside the assets that run it. `dg scaffold defs dagster.asset
  <area>/<name>.py`, run in this folder, adds a file there.
- Other teams' assets are referenced by `AssetKey` only (declare them as `AssetSpec`s).
- Tests: `tests/`, run with `make test-{name}`.
"""

ASSETS = '''\
"""Assets of the {name} location."""

import dagster as dg
import duckdb

from platform_shared.metadata import committed_metadata, table_metadata
from platform_shared.resources import WarehouseResource


@dg.asset(
    key_prefix=["{name}"],
    group_name="{name}_starter",
    kinds={{"duckdb"}},
    description="Starter table proving the location writes its own warehouse schema.",
)
def location_heartbeat(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    def rebuild(conn: duckdb.DuckDBPyConnection) -> dict:
        conn.execute("CREATE SCHEMA IF NOT EXISTS {name}")
        conn.execute(
            "CREATE OR REPLACE TABLE {name}.location_heartbeat AS "
            "SELECT ?::VARCHAR AS run_id, current_timestamp AS written_at",
            [context.run_id],
        )
        return table_metadata(conn, "{name}.location_heartbeat")

    committed = warehouse.write(rebuild, what="{name}.location_heartbeat")
    return dg.MaterializeResult(metadata={{**committed.value, **committed_metadata(committed)}})
'''

DEFINITIONS = '''\
"""The {name} code location."""

import dagster as dg

from {name} import defs as defs_package
from platform_shared.defs_folder import load_defs_folder
from platform_shared.resources import warehouse

defs = dg.Definitions.merge(
    load_defs_folder(defs_package),
    dg.Definitions(resources={{"warehouse": warehouse()}}, executor=dg.in_process_executor),
)
'''

TEST = '''\
"""The scaffolded {name} location loads and writes its own schema."""

from pathlib import Path

import dagster as dg

from {name}.definitions import defs
from {name}.defs.starter.location_heartbeat import location_heartbeat
from platform_shared.resources import WarehouseResource


def test_every_asset_key_starts_with_the_location_name() -> None:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert keys == {{dg.AssetKey(["{name}", "location_heartbeat"])}}


def test_heartbeat_writes_one_row(tmp_path: Path) -> None:
    warehouse = WarehouseResource(
        catalog=f"sqlite:{{tmp_path / 'catalog.sqlite'}}", data_path=str(tmp_path / "lake")
    )
    result = dg.materialize([location_heartbeat], resources={{"warehouse": warehouse}})
    with warehouse.get_connection() as conn:
        rows = conn.execute("SELECT run_id FROM {name}.location_heartbeat").fetchall()
    assert rows == [(result.run_id,)]
'''


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
    write(package / "src" / name / "__init__.py", f'"""The {name} team\'s code location."""\n')
    defs = package / "src" / name / "defs"
    write(
        defs / "__init__.py",
        f'"""Every definition of the {name} location, found by walking this package."""\n',
    )
    write(
        defs / "starter" / "__init__.py",
        '"""The starter asset: the location writes its own schema."""\n',
    )
    write(defs / "starter" / "location_heartbeat.py", ASSETS.format(name=name))
    write(package / "src" / name / "definitions.py", DEFINITIONS.format(name=name))
    write(package / "tests" / f"test_{name}_definitions.py", TEST.format(name=name))

    workflows = root / ".github" / "workflows"
    write(
        workflows / f"location-{name}.yml",
        _replace_name((workflows / f"location-{template}.yml").read_text(), template, name),
    )

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
