"""``dg scaffold defs platform_shared.scaffolding.area <area>``: a new area of a location.

Run in a location's folder, it writes ``defs/<area>/`` in the shape every location has
(``__init__.py`` naming the area's ``SQL`` folder, ``assets.py``, ``sql/<table>.create.sql``
and ``sql/<table>.insert.sql``) and adds the area's key and group to the location's
``keys.py``. ``make new-location`` writes its starter area with the same templates.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
from dagster.components.scaffold.scaffold import ScaffoldRequest, scaffold_with

INIT = '''\
"""The {area} area of the {location} location; its SQL in ``sql/``."""

from platform_shared.sql import SqlFolder

SQL = SqlFolder(__name__)
'''

ASSETS = '''\
"""Assets of the {area} area."""

import dagster as dg
import duckdb

from {location}.defs.{area} import SQL
from {location}.keys import {key_names}
from platform_shared.metadata import committed_metadata, table_metadata
from platform_shared.naming import table_name
from platform_shared.resources import WarehouseResource


@dg.asset(
    key_prefix=[LOCATION],
    group_name={const}_GROUP,
    owners=OWNERS,
    kinds={{"duckdb"}},
    description="Which run last rebuilt the {area} area (replace with the area's first table).",
)
def {table}(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    def rebuild(conn: duckdb.DuckDBPyConnection) -> dict:
        SQL.rebuild_table(conn, "{table}", [context.run_id])
        return table_metadata(conn, table_name({const}))

    committed = warehouse.write(rebuild, what=table_name({const}))
    return dg.MaterializeResult(metadata={{**committed.value, **committed_metadata(committed)}})
'''

CREATE = """\
CREATE OR REPLACE TABLE {location}.{table} (
    run_id VARCHAR NOT NULL,
    written_at TIMESTAMP WITH TIME ZONE NOT NULL
);
"""

INSERT = """\
INSERT INTO {location}.{table} BY NAME
SELECT ?::VARCHAR AS run_id, current_timestamp AS written_at;
"""

KEYS = """
{const} = asset_key(LOCATION, "{table}")
{const}_GROUP = group_name(LOCATION, "{area}")
"""


def write_area(package: Path, area: str) -> list[Path]:
    """Write area ``area`` under ``package`` (``src/<location>``); the files written.

    The area's key and group are appended to the location's ``keys.py``.
    """
    location = package.name
    table = f"{area}_table"
    const = table.upper()
    names = {"location": location, "area": area, "table": table, "const": const}
    names["key_names"] = ", ".join(sorted([const, f"{const}_GROUP", "LOCATION", "OWNERS"]))
    folder = package / "defs" / area
    files = {
        folder / "__init__.py": INIT,
        folder / "assets.py": ASSETS,
        folder / "sql" / f"{table}.create.sql": CREATE,
        folder / "sql" / f"{table}.insert.sql": INSERT,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**names))
    keys = package / "keys.py"
    text = _import_naming(keys.read_text())
    keys.write_text(text.rstrip("\n") + "\n" + KEYS.format(**names))
    return [*files, keys]


def _import_naming(text: str) -> str:
    """``text`` importing ``asset_key`` and ``group_name`` from ``platform_shared.naming``."""
    match = re.search(r"^from platform_shared\.naming import (.+)$", text, flags=re.MULTILINE)
    if match is None:
        raise ValueError("keys.py does not import from platform_shared.naming")
    names = {n.strip() for n in match.group(1).split(",")} | {"asset_key", "group_name"}
    line = f"from platform_shared.naming import {', '.join(sorted(names))}"
    return text[: match.start()] + line + text[match.end() :]


class AreaScaffolder(dg.Scaffolder):
    """Writes a new area of the location ``dg scaffold`` runs in."""

    def scaffold(self, request: ScaffoldRequest) -> None:
        folder = Path(request.target_path)  # created empty by dg: src/<location>/defs/<area>
        if request.project_root is None:
            raise ValueError("run dg scaffold in a location's folder")
        location = request.project_root.name
        package = request.project_root / "src" / location
        if folder != package / "defs" / folder.name or any(folder.iterdir()):
            raise ValueError(f"{folder} is not a new folder directly under {package / 'defs'}")
        folder.rmdir()
        write_area(package, folder.name)


@scaffold_with(AreaScaffolder)
def area() -> None:
    """A new area of a location's ``defs``: assets, their SQL, their key and group."""
