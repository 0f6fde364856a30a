"""The platform's promises, checked on the real topology backed by PostgreSQL.

The tests share one running platform (see ``conftest.py``) and build on each other in
file order: the cascade loads a day, exactly-once re-delivers it, the redeploy and the UI
tests look at what is there by then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus

from platform_stack.topology import Topology
from tests.system.harness import (
    artifacts_dir,
    eventually,
    landing_dir,
    launch_chromium,
    sensor_ticks,
    warehouse_of,
)
from tests.system.landing import Day, deliver, deliver_reference

pytestmark = [pytest.mark.system, pytest.mark.postgres]

DAY = Day(date="2025-02-10", first_id=10_000)
BIG_DAY = "2025-02-12"
DELIVERED: dict[str, Day] = {}
SENSOR = "dagster/sensor_name"
SALES_BATCH = "transformation/sales_batch"  # shared by the runs of one sales batch
CUSTOMER_SENSORS = {"customer_snapshot_sensor", "order_history_sensor"}


def _location(run: DagsterRun) -> str:
    origin = run.remote_job_origin
    return origin.location_name if origin else ""


def _runs(instance: DagsterInstance) -> list[DagsterRun]:
    return list(instance.get_runs())


def _failure(instance: DagsterInstance, run: DagsterRun) -> str:
    """A failed run and its first error, for an assertion message."""
    from dagster import DagsterEventType

    errors = [
        e.message for e in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
    ]
    return f"{_location(run)}/{run.job_name} {run.status.value}: {errors[:1]}"


def _in_progress(instance: DagsterInstance) -> list[DagsterRun]:
    return [r for r in _runs(instance) if not r.is_finished]


def _regional(platform: Topology, date: str) -> dict[str, tuple[int, int, Decimal]]:
    with warehouse_of(platform).get_connection() as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
            "'transformation' AND table_name = 'regional_daily_sales'"
        ).fetchone()
        if not exists or not exists[0]:
            return {}
        rows = conn.execute(
            "SELECT region, orders, units, revenue FROM transformation.regional_daily_sales "
            "WHERE date = ?::DATE AND (orders > 0 OR units > 0)",
            [date],
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _summary(platform: Topology) -> dict[str, tuple[int, Decimal]]:
    with warehouse_of(platform).get_connection() as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics' "
            "AND table_name = 'sales_summary'"
        ).fetchone()
        if not exists or not exists[0]:
            return {}
        rows = conn.execute("SELECT region, units, revenue FROM analytics.sales_summary").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _expected_summary() -> dict[str, tuple[int, Decimal]]:
    totals: dict[str, tuple[int, Decimal]] = {}
    for day in DELIVERED.values():
        for region, (_, units, revenue) in day.regional().items():
            u, r = totals.get(region, (0, Decimal(0)))
            totals[region] = (u + units, r + revenue)
    return totals


def _settled(platform: Topology, instance: DagsterInstance, day: Day) -> bool:
    return (
        not _in_progress(instance)
        and _regional(platform, day.date) == day.regional()
        and _summary(platform) == _expected_summary()
    )


@pytest.fixture(scope="module")
def instance(platform: Topology) -> Iterator[DagsterInstance]:
    """The platform's instance, read from this process (the same PostgreSQL database)."""
    import os

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in platform.base_env().items() if k.startswith("DAGSTER")})
    try:
        inst = DagsterInstance.from_config(str(platform.home))
        yield inst
        inst.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_cascade_from_file_drop_to_analytics(platform: Topology, instance: DagsterInstance) -> None:
    landing = landing_dir(platform)
    deliver_reference(landing)
    DAY.deliver(landing)
    DELIVERED[DAY.date] = DAY

    eventually(lambda: _settled(platform, instance, DAY), 480, "the day in analytics")
    # The customer models follow the reference and orders loads a sensor interval later
    # (up to 60 s); wait for them too, so the next case starts from a quiet platform.
    eventually(
        lambda: (
            not _in_progress(instance)
            and {r.tags.get(SENSOR) for r in _runs(instance)} >= CUSTOMER_SENSORS
        ),
        240,
        "the customer models",
    )

    runs = _runs(instance)
    assert [_failure(instance, r) for r in runs if r.status != DagsterRunStatus.SUCCESS] == []
    launched_by = {(_location(r), r.tags.get(SENSOR)) for r in runs}
    # Every run was launched by a sensor of its own location: no click, no direct launch.
    assert all(sensor for _, sensor in launched_by), launched_by
    assert {
        ("ingestion", "sales_file_sensor"),
        ("ingestion", "orders_file_sensor"),
        ("ingestion", "reference_files_sensor"),
        ("transformation", "sales_models_sensor"),
        ("analytics", "transformation_updates_sensor"),
    } | {("transformation", sensor) for sensor in CUSTOMER_SENSORS} <= launched_by
    # The regional rebuild was requested with the sales models run, as one batch.
    regional = [r for r in runs if r.job_name == "regional_sales_job"]
    models = [r for r in runs if r.job_name == "sales_models_job"]
    assert regional
    assert {r.tags.get(SENSOR) for r in regional} == {"sales_models_sensor"}
    assert {r.tags[SALES_BATCH] for r in regional} <= {r.tags[SALES_BATCH] for r in models}
    sales_runs = [r for r in runs if r.tags.get(SENSOR) == "sales_file_sensor"]
    assert [r.tags.get("dagster/partition") for r in sales_runs] == [DAY.date]

    with warehouse_of(platform).get_connection() as conn:
        rejected = conn.execute(
            "SELECT line_number, reason FROM ingestion.rejected_rows "
            "WHERE asset = 'sales' AND partition_key = ? ORDER BY line_number",
            [DAY.date],
        ).fetchall()
        loaded = conn.execute(
            "SELECT count(*) FROM ingestion.sales WHERE sale_date = ?::DATE", [DAY.date]
        ).fetchone()
    # Header is line 1: the two bad lines follow the 60 good ones.
    assert [line for line, _ in rejected] == [DAY.lines + 2, DAY.lines + 3]
    assert "quantity" in rejected[0][1]
    assert "sale_ts" in rejected[1][1]
    assert loaded == (DAY.lines,)


def _chain(instance: DagsterInstance) -> dict[str, int]:
    """Runs per requesting sensor and job."""
    counts: dict[str, int] = {}
    for run in _runs(instance):
        key = f"{run.tags.get(SENSOR, '')}: {run.job_name}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_redelivery_is_exactly_once(platform: Topology, instance: DagsterInstance) -> None:
    landing = landing_dir(platform)
    before = _chain(instance)
    # The identical file again, with a new mtime: no run anywhere.
    deliver(landing / "sales" / f"{DAY.date}.csv", DAY.sales_csv())
    dropped = time.time()
    eventually(
        lambda: (
            len(
                [t for t in sensor_ticks(platform, "ingestion", "sales_file_sensor") if t > dropped]
            )
            >= 2
        ),
        120,
        "two sales sensor ticks after the identical re-delivery",
    )
    assert _chain(instance) == before

    corrected = Day(date=DAY.date, first_id=DAY.first_id, bump_quantity_of=4)
    deliver(landing / "sales" / f"{DAY.date}.csv", corrected.sales_csv())
    DELIVERED[DAY.date] = corrected
    eventually(lambda: _settled(platform, instance, corrected), 480, "the corrected day")
    after = _chain(instance)
    grown = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert {k: v for k, v in grown.items() if v} == {
        "sales_file_sensor: daily_feeds_job": 1,
        "sales_models_sensor: sales_models_job": 1,
        "sales_models_sensor: regional_sales_job": 1,
        "transformation_updates_sensor: analytics_refresh_job": 1,
    }


def _big_sales_file(path: Path, date: str, rows: int) -> None:
    """A large day so its ingestion run is still going while another location redeploys."""
    import duckdb

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        conn.execute(
            f"""COPY (SELECT 500000 + i AS sale_id, 500000 + i // 3 AS order_id,
                       1 + (i // 3) % 4 AS customer_id, 3 AS product_id, 1 AS quantity,
                       '1.50' AS unit_price, '{date} 12:00:00' AS sale_ts
                FROM range({rows}) t(i))
                TO '{tmp.as_posix()}' (HEADER, DELIMITER ',')"""
        )
    tmp.rename(path)


def test_one_team_redeploys_while_others_keep_serving(
    platform: Topology, instance: DagsterInstance, pytestconfig: pytest.Config
) -> None:
    landing = landing_dir(platform)
    _big_sales_file(landing / "sales" / f"{BIG_DAY}.csv", BIG_DAY, 1_500_000)

    def ingestion_run() -> DagsterRun | None:
        return next(
            (
                r
                for r in _runs(instance)
                if r.tags.get("dagster/partition") == BIG_DAY
                and r.status == DagsterRunStatus.STARTED
            ),
            None,
        )

    in_flight = eventually(ingestion_run, 180, "the large ingestion run to start")
    assert isinstance(in_flight, DagsterRun)

    outages: list[str] = []
    stop = threading.Event()

    def watch_others() -> None:
        while not stop.is_set():
            for name in ("ingestion", "analytics"):
                if not platform.code_server_serving(name):
                    outages.append(name)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_others, daemon=True)
    watcher.start()
    try:
        fixtures = str(pytestconfig.rootpath / "tests" / "system" / "fixtures")
        platform.restart_location(
            "transformation", module="transformation_v2", extra_env={"PYTHONPATH": fixtures}
        )
        platform.reload_location("transformation")
        assert instance.get_run_by_id(in_flight.run_id).status in (  # type: ignore[union-attr]
            DagsterRunStatus.STARTED,
            DagsterRunStatus.SUCCESS,
        )
        statuses = platform.location_statuses()
    finally:
        stop.set()
        watcher.join()
    assert outages == []
    assert statuses == {"ingestion": "LOADED", "transformation": "LOADED", "analytics": "LOADED"}
    data = platform.graphql(
        '{ assetNodeOrError(assetKey: {path: ["transformation", "redeploy_marker"]}) '
        "{ __typename } }"
    )
    assert data["assetNodeOrError"]["__typename"] == "AssetNode"

    finished = eventually(
        lambda: (run := instance.get_run_by_id(in_flight.run_id)) and run.is_finished and run,
        300,
        "the in-flight ingestion run to finish",
    )
    assert isinstance(finished, DagsterRun)
    assert finished.status == DagsterRunStatus.SUCCESS
    with warehouse_of(platform).get_connection() as conn:
        assert conn.execute(
            "SELECT count(*) FROM ingestion.sales WHERE sale_date = ?::DATE", [BIG_DAY]
        ).fetchone() == (1_500_000,)
    # Back to the released definition for whatever runs next.
    platform.restart_location("transformation")
    platform.reload_location("transformation")


def test_postgres_holds_runs_events_and_ticks(platform: Topology, postgres_query) -> None:
    runs = dict(postgres_query("SELECT status, count(*) FROM runs GROUP BY status"))
    assert runs.get("SUCCESS", 0) >= 6
    tagged = postgres_query("SELECT DISTINCT value FROM run_tags WHERE key = 'dagster/sensor_name'")
    assert {"sales_file_sensor", "transformation_updates_sensor"} <= {v for (v,) in tagged}
    materialized = postgres_query(
        "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        "AND asset_key = %s",
        (AssetKey(["analytics", "sales_summary"]).to_string(),),
    )
    assert materialized[0][0] >= 1
    ticks = postgres_query("SELECT count(*) FROM job_ticks WHERE type = 'SENSOR'")
    assert ticks[0][0] >= 3
    # The platform under test stopped its schedules before the daemon started (the cases
    # count runs, which a wall-clock tick would change at some hours only): each stop is a
    # state in PostgreSQL, and no schedule ever ticked.
    states = postgres_query(
        "SELECT DISTINCT status FROM instigators WHERE instigator_type = 'SCHEDULE'"
    )
    assert states == [("STOPPED",)]
    assert postgres_query("SELECT count(*) FROM job_ticks WHERE type = 'SCHEDULE'") == [(0,)]


def test_ui_shows_locations_lineage_and_metadata(
    platform: Topology, pytestconfig: pytest.Config
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts_dir(pytestconfig.rootpath, "ui")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)

            page.goto(f"{platform.webserver_url}/locations")
            for name in ("ingestion", "transformation", "analytics"):
                row = page.locator(f'a[href="/locations/{name}/"]')
                expect(row).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Loaded", exact=False)).to_have_count(3, timeout=60_000)
            page.screenshot(path=str(shots / "locations.png"), full_page=True)

            # The global lineage: one group per team stage, connected left to right.
            page.goto(f"{platform.webserver_url}/asset-groups")
            graph = page.locator("svg, [data-testid]").first
            expect(graph).to_be_visible(timeout=60_000)
            for group in ("ingestion_raw_data", "transformation_sales", "analytics_sales_marts"):
                expect(page.get_by_text(group, exact=True).last).to_be_visible(timeout=60_000)
            page.screenshot(path=str(shots / "lineage.png"), full_page=True)

            page.goto(f"{platform.webserver_url}/assets/analytics/sales_summary")
            for label in ("num_records", "total_revenue"):
                expect(page.get_by_text(label, exact=True).first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(shots / "sales_summary.png"), full_page=True)
        finally:
            browser.close()
    # The edges behind the picture: analytics reads transformation, which reads ingestion.
    upstream = platform.graphql(
        """{ assetNodes(assetKeys: [{path: ["analytics", "sales_summary"]},
                                   {path: ["transformation", "enriched_sales"]}]) {
               assetKey { path } dependencyKeys { path } } }"""
    )["assetNodes"]
    deps = {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
        for n in upstream
    }
    assert "transformation/enriched_sales" in deps["analytics/sales_summary"]
    assert "ingestion/sales" in deps["transformation/enriched_sales"]
    assert sorted(p.name for p in shots.iterdir()) == [
        "lineage.png",
        "locations.png",
        "sales_summary.png",
    ]
