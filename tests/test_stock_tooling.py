"""Stock Dagster tooling works with the documented defaults and no variable set.

Each command runs in a clean environment (only PATH and HOME), from a folder laid out as
the repository root is for a newcomer: the repository's ``dagster.yaml`` and sample files
in ``data/landing``. Nothing here uses the platform's launchers.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from platform_shared.resources import WarehouseResource
from platform_shared.sample_data import SampleSpec, generate
from platform_shared.settings import default
from platform_stack.topology import Process, free_port, wait_until
from platform_stack.workspace import read_locations
from tests.checkout import copy_checkout
from tests.deploy.deploy_support import ROOT

pytestmark = [pytest.mark.processes, pytest.mark.slow]

LOCATIONS = [loc.name for loc in read_locations(ROOT / "workspace.yaml")]
DAY = "2025-01-01"


def clean_env(home: Path) -> dict[str, str]:
    """No platform variable, no DAGSTER_HOME, no virtual environment: a fresh shell."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def run(argv: list[str], cwd: Path, home: Path, timeout: float = 300) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env=clean_env(home), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout + result.stderr


@pytest.fixture
def newcomer_dir(tmp_path: Path) -> Path:
    """A folder with the repository's instance file and a day of sample data."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy2(ROOT / "dagster.yaml", work / "dagster.yaml")
    generate(work / default("LANDING_URL"), SampleSpec(days=1, sales_rows=300))
    return work


def _expected_sales(landing: Path) -> tuple[Decimal, int]:
    """Revenue and units of the day's sales file, computed from the CSV alone."""
    revenue, units = Decimal(0), 0
    with (landing / "sales" / f"{DAY}.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            line = Decimal(row["quantity"]) * Decimal(row["unit_price"])
            revenue += line.quantize(Decimal("0.01"))
            units += int(row["quantity"])
    return revenue, units


def test_dagster_asset_materialize_needs_no_variable(newcomer_dir: Path, tmp_path: Path) -> None:
    """One asset of each location, each with its location's own `dagster` executable."""

    def materialize(location: str, selection: str, partition: str | None = None) -> str:
        argv = [str(ROOT / ".venvs" / location / "bin" / "dagster"), "asset", "materialize"]
        argv += ["-m", f"{location}.definitions", "--select", selection]
        if partition:
            argv += ["--partition", partition]
        return run(argv, newcomer_dir, tmp_path)

    materialize("ingestion", "ingestion/customers,ingestion/products")
    materialize("ingestion", "ingestion/sales", DAY)
    materialize("transformation", "transformation/enriched_sales", DAY)
    output = materialize("analytics", "analytics/sales_summary")
    assert "RUN_SUCCESS" in output

    # Every default landed where the README says, relative to the folder it ran in.
    assert (newcomer_dir / default("WAREHOUSE_CATALOG").removeprefix("sqlite:")).is_file()
    assert any((newcomer_dir / default("WAREHOUSE_DATA_PATH")).rglob("*.parquet"))
    with _reader(newcomer_dir).get_connection() as conn:
        revenue, units, regions = conn.execute(
            # The README's reader query, as written.
            "SELECT sum(revenue), sum(units), count(*) FROM analytics.sales_summary"
        ).fetchone()  # type: ignore[misc]
    expected_revenue, expected_units = _expected_sales(newcomer_dir / default("LANDING_URL"))
    assert (Decimal(revenue), units) == (expected_revenue, expected_units)
    assert regions == 3
    # A temporary instance home in the folder, removed when each command exits.
    assert not list(newcomer_dir.glob(".tmp_dagster_home_*"))


def _reader(folder: Path) -> WarehouseResource:
    """The default lake of a checkout in ``folder``, attached read-only as a notebook would."""
    catalog = folder / default("WAREHOUSE_CATALOG").removeprefix("sqlite:")
    return WarehouseResource(catalog=f"sqlite:{catalog}", read_only=True)


def _rows(folder: Path, table: str) -> int:
    with _reader(folder).get_connection() as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]


def _data_lines(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_dagster_job_execute_needs_no_variable(newcomer_dir: Path, tmp_path: Path) -> None:
    dagster = str(ROOT / ".venvs" / "ingestion" / "bin" / "dagster")
    argv = [dagster, "job", "execute", "-m", "ingestion.definitions", "-j", "reference_data_job"]
    assert "RUN_SUCCESS" in run(argv, newcomer_dir, tmp_path)
    landing = newcomer_dir / default("LANDING_URL")
    for table in ("customers", "products"):
        assert _rows(newcomer_dir, f"ingestion.{table}") == _data_lines(landing / f"{table}.csv")


NOTEBOOK_CELL = """
import dagster as dg
from ingestion.definitions import defs

customers = defs.get_assets_def(dg.AssetKey(["ingestion", "customers"]))
result = dg.materialize([customers], resources=defs.resources)
(event,) = result.asset_materializations_for_node(customers.node_def.name)
print("rows", event.metadata["dagster/row_count"].value)
"""


def test_notebook_materialize_needs_no_variable(newcomer_dir: Path, tmp_path: Path) -> None:
    """What a notebook cell does: import the location's assets and resources, materialize."""
    python = str(ROOT / ".venvs" / "ingestion" / "bin" / "python")
    output = run([python, "-c", NOTEBOOK_CELL], newcomer_dir, tmp_path)
    expected = _data_lines(newcomer_dir / default("LANDING_URL") / "customers.csv")
    assert f"rows {expected}" in output
    assert _rows(newcomer_dir, "ingestion.customers") == expected


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files with its environments linked in, so that what `dg`
    starts here (sensors reading the default landing folder) touches no local data."""
    root = tmp_path_factory.mktemp("checkout")
    copy_checkout(ROOT, root)
    (root / ".venvs").symlink_to(ROOT / ".venvs")
    for location in LOCATIONS:
        (root / "locations" / location / ".venv").symlink_to(f"../../.venvs/{location}")
    return root


def test_dg_check_defs_at_the_root(checkout: Path, tmp_path: Path) -> None:
    output = run([str(ROOT / ".venv" / "bin" / "dg"), "check", "defs"], checkout, tmp_path)
    assert "All definitions loaded successfully" in output


@pytest.mark.parametrize("location", LOCATIONS)
def test_dg_list_defs_from_the_root(location: str, checkout: Path, tmp_path: Path) -> None:
    argv = [str(ROOT / ".venv" / "bin" / "dg"), "list", "defs", "--json"]
    argv += ["--target-path", f"locations/{location}"]
    result = subprocess.run(
        argv, cwd=checkout, env=clean_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    defs = importlib.import_module(f"{location}.definitions").defs
    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in listed["assets"] if a["is_executable"]} == {
        k.to_user_string() for k in graph.materializable_asset_keys
    }
    assert {s["name"] for s in listed["sensors"]} == {s.name for s in defs.sensors or []}
    assert {j["name"] for j in listed["jobs"]} >= {
        j.name for j in defs.jobs or [] if not j.name.startswith("__")
    }


@pytest.fixture
def dg_dev(checkout: Path, tmp_path: Path) -> Iterator[str]:
    """`dg dev` at the root on a free port; its process group is stopped by pid after."""
    port = free_port()
    process = Process(
        name="dg-dev",
        argv=[str(ROOT / ".venv/bin/dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(tmp_path),
        log_path=tmp_path / "dg-dev.log",
    )
    process.start(cwd=checkout)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop(timeout=30)


def _locations(url: str) -> dict[str, str]:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    request = urllib.request.Request(  # noqa: S310 (our own http URL)
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            entries = json.loads(response.read())["data"]["workspaceOrError"]["locationEntries"]
    except OSError:
        return {}
    return {e["name"]: e["loadStatus"] for e in entries}


@pytest.mark.system
def test_dg_dev_at_the_root_serves_the_three_locations(dg_dev: str, checkout: Path) -> None:
    """Each location in its own environment, on an instance of the repository's file."""
    wait_until(
        lambda: _locations(dg_dev) == dict.fromkeys(LOCATIONS, "LOADED"),
        240,
        "the three locations loaded by dg dev",
        interval=1.0,
    )
    homes = list(checkout.glob(".tmp_dagster_home_*"))
    assert len(homes) == 1, homes
    # No storage block: the runs and events of this instance are SQLite files in its home,
    # made when the daemon first writes (its heartbeat), which may follow the loads.
    wait_until(lambda: (homes[0] / "storage").is_dir(), 60, "the instance's SQLite storage")


@pytest.mark.system
@pytest.mark.parametrize("location", LOCATIONS)
def test_dagster_dev_serves_one_location(location: str, newcomer_dir: Path, tmp_path: Path) -> None:
    """`dagster dev -m <location>.definitions` from the dev environment, nothing set."""
    port = free_port()
    argv = [str(ROOT / ".venv/bin/dagster"), "dev", "-m", f"{location}.definitions"]
    process = Process(
        name=f"dagster-dev-{location}",
        argv=[*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(tmp_path),
        log_path=tmp_path / "dagster-dev.log",
    )
    process.start(cwd=newcomer_dir)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: _locations(url) == {f"{location}.definitions": "LOADED"},
            240,
            f"{location} loaded by dagster dev",
            interval=1.0,
        )
    finally:
        process.stop(timeout=30)
