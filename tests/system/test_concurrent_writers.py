"""Writers of every location and a backfill on one lake at once, a reader beside them.

The same runs go twice into two fresh lakes (catalogs in PostgreSQL, as deployed): one
at a time, then overlapping, with nothing serialising the writers. The overlapping pass
must fail no run, leave every table equal to the serial pass's, and never show its reader
an error or a total that no commit made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from platform_bench.concurrency import Run, Runner, run_outcomes
from platform_shared.lake import CATALOG
from platform_shared.sample_data import SampleSpec, generate
from platform_shared.settings import with_defaults
from platform_stack.instance import environment, initialize_storage, prepare_home
from tests.system.harness import artifacts_dir, platform_environ, warehouse_of_environ

pytestmark = [pytest.mark.system, pytest.mark.postgres, pytest.mark.timeout(900)]

SPEC = SampleSpec(days=6, sales_rows=6_000, customers=300, products=60, bad_fraction=0.01)
SALES_MODELS = ["enriched_sales", "daily_sales"]
MARTS = ["sales_summary", "top_products", "customer_lifetime_value"]


def _steps() -> list[list[Run]]:
    """Steps of runs: the runs of a step may overlap, a step starts when the last ended.

    The first half of the days is loaded and modelled first; then, at once, ingestion
    loads the second half, transformation rebuilds the first half as one ranged run and as
    a backfill of one run per day (both replacing the same partitions), and analytics
    rebuilds its marts; last, the second half is modelled and the marts rebuilt.
    """
    days = SPEC.dates()
    first, second = days[: len(days) // 2], days[len(days) // 2 :]
    loaded, fresh = (first[0], first[-1]), (second[0], second[-1])
    return [
        [
            Run("ingestion", ["customers", "products"]),
            Run("ingestion", ["orders", "sales"], loaded),
        ],
        [
            Run("transformation", ["customer_emails", "customer_orders"]),
            Run("transformation", SALES_MODELS, loaded),
        ],
        [Run("analytics", MARTS)],
        [
            Run("ingestion", ["orders", "sales"], fresh),
            Run("transformation", SALES_MODELS, loaded),
            *(Run("transformation", SALES_MODELS, (day, day)) for day in first),
            Run("analytics", MARTS),
        ],
        [Run("transformation", SALES_MODELS, fresh)],
        [Run("analytics", MARTS)],
    ]


OVERLAPPING_STEP = 3


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    generate(folder, SPEC)
    return folder


def _platform(
    name: str,
    landing: Path,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Callable[[], dict[str, str]],
    root: Path,
) -> tuple[dict[str, str], Path]:
    """The environment of a platform with its own lake and instance; its home folder."""
    data = tmp_path_factory.mktemp(name)
    environ = with_defaults(
        platform_environ(
            data,
            {**postgres_databases(), "LANDING_URL": str(landing)},
            catalog=postgres_databases(),
        )
    )
    home = data / "home"
    environ["DAGSTER_HOME"] = str(home)
    prepare_home(home, root / "dagster.yaml", environ)
    initialize_storage(home, environ)
    return environ, home


# Columns that record when a run did something, which differs from run to run.
WHEN_COLUMNS = {"rejected_at"}


def _tables(environ: dict[str, str]) -> dict[str, list[tuple]]:
    """Every table of the lake with its rows (less :data:`WHEN_COLUMNS`), sorted."""
    with warehouse_of_environ(environ).get_connection() as conn:
        columns = conn.execute(
            "SELECT schema_name || '.' || table_name, list(column_name ORDER BY column_index) "
            "FROM duckdb_columns() WHERE database_name = ? GROUP BY 1 ORDER BY 1",
            [CATALOG],
        ).fetchall()
        return {
            table: conn.execute(
                f"SELECT {', '.join(c for c in names if c not in WHEN_COLUMNS)} FROM {table} "
                "ORDER BY ALL"
            ).fetchall()
            for table, names in columns
        }


def _failures(environ: dict[str, str], home: Path, logs: Path) -> dict[str, int]:
    with (
        environment({k: v for k, v in environ.items() if k.startswith("DAGSTER_")}),
        DagsterInstance.from_config(str(home)) as instance,
    ):
        return run_outcomes(instance, logs)


@pytest.fixture(scope="module")
def serial(
    landing: Path,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Callable[[], dict[str, str]],
    pytestconfig: pytest.Config,
) -> dict[str, list[tuple]]:
    """The tables after every run of :func:`_steps`, one run at a time."""
    root = pytestconfig.rootpath
    environ, home = _platform("serial", landing, tmp_path_factory, postgres_databases, root)
    runner = Runner(root, environ, artifacts_dir(root, "serial-writers"))
    for step in _steps():
        runner.serial(step, "serial")
    assert _failures(environ, home, runner.logs)["failed_runs"] == 0
    return _tables(environ)


@pytest.fixture
def reader(
    tmp_path: Path, pytestconfig: pytest.Config
) -> Iterator[Callable[[dict[str, str]], Callable[[], list[dict]]]]:
    """Starts :mod:`tests.system.lake_reader` on a platform's lake; the callable it returns
    stops the reader and gives its reads. Stopped by PID whatever happens."""
    procs: list[subprocess.Popen[bytes]] = []
    out, stop, log = tmp_path / "reads.jsonl", tmp_path / "stop", tmp_path / "reader.log"

    def start(environ: dict[str, str]) -> Callable[[], list[dict]]:
        with log.open("wb") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.system.lake_reader", str(out), str(stop)],
                cwd=pytestconfig.rootpath,
                env={**os.environ, **environ},
                stderr=errors,
            )
        procs.append(proc)

        def finish() -> list[dict]:
            stop.touch()
            assert proc.wait(120) == 0, log.read_text()
            return [json.loads(line) for line in out.read_text().splitlines()]

        return finish

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_overlapping_writers_and_a_backfill_equal_a_serial_run(
    landing: Path,
    serial: dict[str, list[tuple]],
    reader: Callable[[dict[str, str]], Callable[[], list[dict]]],
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Callable[[], dict[str, str]],
    pytestconfig: pytest.Config,
) -> None:
    root = pytestconfig.rootpath
    environ, home = _platform("overlapping", landing, tmp_path_factory, postgres_databases, root)
    runner = Runner(root, environ, artifacts_dir(root, "overlapping-writers"))
    steps = _steps()
    for step in steps[:OVERLAPPING_STEP]:
        runner.serial(step, "setup")
    finish = reader(environ)
    # The reader is reading before the writers start.
    time.sleep(2)
    started = time.time()
    runner.concurrent(steps[OVERLAPPING_STEP], "overlapping")
    ended = time.time()
    for step in steps[OVERLAPPING_STEP + 1 :]:
        runner.serial(step, "catch-up")
    reads = finish()

    outcomes = _failures(environ, home, runner.logs)
    assert outcomes["failed_runs"] == 0
    assert outcomes["lock_failures"] == 0
    # Nothing serialises the lake's writers any more: no step waited for a pool slot.
    assert outcomes["steps_waited_for_pool"] == 0

    found = _tables(environ)
    assert sorted(found) == sorted(serial)
    different = [name for name in serial if found[name] != serial[name]]
    assert different == [], {n: (len(serial[n]), len(found[n])) for n in different}
    assert len(serial["ingestion.sales"]) > 5_000
    assert len(serial["transformation.enriched_sales"]) == len(serial["ingestion.sales"])

    errors = [r["error"] for r in reads if "error" in r]
    assert errors == []
    snapshots = {r["snapshot"] for r in reads}
    # The reader read all along, the overlapping runs included, and saw their commits.
    during = [r for r in reads if started <= r["at"] <= ended]
    assert len(during) >= 10, (len(during), ended - started)
    assert len({r["snapshot"] for r in during}) >= 2
    assert len({(r["rows"], r["revenue"]) for r in reads}) >= 2
    # Every total it saw is the one its snapshot committed, read back by time travel.
    with warehouse_of_environ(environ).get_connection() as conn:
        for snapshot in sorted(snapshots):
            committed = _totals_at(conn, snapshot)
            seen = {(r["rows"], r["revenue"]) for r in reads if r["snapshot"] == snapshot}
            assert seen == {committed}, (snapshot, seen, committed)
        final = conn.execute(
            "SELECT count(*), sum(revenue)::VARCHAR FROM analytics.sales_summary"
        ).fetchone()
    assert (reads[-1]["rows"], reads[-1]["revenue"]) == final
    # For the CI report: how much the writers and the reader really overlapped.
    retried = sum(
        log.read_text(errors="replace").count("did not commit")
        for log in runner.logs.glob("*-overlapping-*.log")
    )
    (runner.logs / "figures.json").write_text(
        json.dumps(
            {
                "overlapping_seconds": round(ended - started, 1),
                "reads": len(reads),
                "reads_during_overlap": len(during),
                "snapshots_seen": len(snapshots),
                "commits_retried": retried,
                "slowest_read_seconds": max(r["seconds"] for r in reads),
            },
            indent=2,
        )
    )


def _totals_at(conn: duckdb.DuckDBPyConnection, snapshot: int) -> tuple[int, str]:
    row = conn.execute(
        "SELECT count(*), sum(revenue)::VARCHAR FROM analytics.sales_summary "
        f"AT (VERSION => {int(snapshot)})"
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])
