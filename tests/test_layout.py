"""The repository's layout tells its architecture; these tests keep it that way."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
from dagster import Definitions

from platform_shared.settings import SETTINGS
from platform_stack import shape
from platform_stack.workspace import read_locations

ROOT_ENTRIES = [
    "locations",
    "shared",
    "deploy",
    "tests",
    "workspace.yaml",
    "dagster.yaml",
    "docker-compose.yml",
    "Makefile",
    "README.md",
]


@pytest.fixture(scope="module")
def root(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.rootpath


@pytest.fixture(scope="module")
def location_names(root: Path) -> list[str]:
    return [loc.name for loc in read_locations(root / "workspace.yaml")]


def _python_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]


def test_top_level_layout(root: Path, location_names: list[str]) -> None:
    assert [e for e in ROOT_ENTRIES if not (root / e).exists()] == []
    folders = sorted(p.name for p in (root / "locations").iterdir() if p.is_dir())
    assert folders == sorted(location_names)


def test_every_location_has_the_one_shape(root: Path, location_names: list[str]) -> None:
    assert {name: shape.problems(root / "locations" / name) for name in location_names} == {
        name: [] for name in location_names
    }


def test_the_shape_check_names_each_departure(root: Path, tmp_path: Path) -> None:
    """A location renamed the old ways fails the check with one line per departure."""
    copy = tmp_path / "analytics"
    shutil.copytree(root / "locations" / "analytics", copy, ignore=shutil.ignore_patterns(".venv"))
    package = copy / "src" / "analytics"
    (package / "keys.py").rename(package / "tables.py")
    sql = package / "defs" / "sales" / "sql" / "top_products.insert.sql"
    sql.rename(package / "defs" / "sales" / "top_products.insert.sql")
    (package / "defs" / "sales" / "margins.py").write_text("import dagster as dg\n\n@dg.asset\n")
    (package / "defs" / "reports" / "assets.py").unlink()
    (copy / "tests" / "test_misc.py").write_text("")

    assert shape.problems(copy) == [
        "missing src/analytics/keys.py",
        "defs/reports/ has no assets.py",
        "src/analytics/defs/sales/top_products.insert.sql: SQL lives in defs/<area>/sql/",
        "defs/sales/margins.py: declares what belongs in defs/<area>/assets.py",
        "tests/test_misc.py: name tests test_analytics_<topic>.py",
    ]


def test_locations_never_import_each_other(root: Path, location_names: list[str]) -> None:
    offenders = []
    for name in location_names:
        others = set(location_names) - {name}
        for path in _python_files(root / "locations" / name / "src"):
            for node in ast.walk(ast.parse(path.read_text())):
                modules: list[str] = []
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module]
                offenders += [
                    f"{path.relative_to(root)} imports {m}"
                    for m in modules
                    if m.split(".")[0] in others
                ]
    assert offenders == []


def test_definitions_modules_are_short(root: Path, location_names: list[str]) -> None:
    for name in location_names:
        module = root / "locations" / name / "src" / name / "definitions.py"
        code_lines = [
            line
            for line in module.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        assert len(code_lines) <= 60, f"{module} has {len(code_lines)} lines"


def _definitions(name: str) -> Definitions:
    module = __import__(f"{name}.definitions", fromlist=["defs"])
    return module.defs


def test_asset_keys_and_tables_carry_the_location_name(location_names: list[str]) -> None:
    for name in location_names:
        graph = _definitions(name).resolve_asset_graph()
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            if node.is_materializable:
                assert key.path[0] == name, f"{key.to_user_string()} defined by {name}"


def test_no_literal_paths_or_climbing_in_code(root: Path) -> None:
    defaults = {s.default for s in SETTINGS if "/" in s.default}
    climbing = re.compile(r"parents\[\d+\]|\.parent\.parent|__file__\)\.parent")
    offenders = []
    for folder in [root / "shared" / "src", *(root / "locations").glob("*/src")]:
        for path in _python_files(folder):
            if path.name == "settings.py":
                continue
            text = path.read_text()
            offenders += [f"{path}: {d}" for d in defaults if d in text]
            if climbing.search(text):
                offenders.append(f"{path}: climbs parent folders")
    assert offenders == []


def _readme_tree(root: Path) -> dict[str, set[str]]:
    """Folders named in the README's repository tree: top level and one level down."""
    text = (root / "README.md").read_text()
    block = text.split("## Repository", 1)[1].split("```", 2)[1]
    tree: dict[str, set[str]] = {"": set()}
    parent = ""
    for line in block.splitlines():
        match = re.match(r"^((?:│   |    )*)[├└]── (\S+?)/", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        name = match.group(2)
        if depth == 0:
            tree[""].add(name)
            parent = name
            tree[parent] = set()
        elif depth == 1:
            tree[parent].add(name)
    return tree


def test_readme_tree_matches_the_folders(root: Path) -> None:
    tree = _readme_tree(root)

    def folders(path: Path) -> set[str]:
        return {
            p.name
            for p in path.iterdir()
            if p.is_dir()
            and not p.name.startswith((".venv", "__", "data", ".dagster"))
            and p.name not in {".git", ".tools", ".pytest_cache", ".ruff_cache", "artifacts"}
            and not p.name.endswith(".egg-info")
        }

    assert tree[""] == folders(root)
    for parent in ["locations", "deploy"]:
        assert tree[parent] == folders(root / parent), parent


def test_readme_documents_every_setting(root: Path) -> None:
    readme = (root / "README.md").read_text()
    assert [s.name for s in SETTINGS if f"`{s.name}`" not in readme] == []
    assert [s.name for s in SETTINGS if f"`{s.default}`" not in readme] == []
