"""Faults around the sensors: a killed daemon, overlapping writers, delivery races, a cursor
reset and a location that is down while its upstream keeps loading.

All cases share one platform (``fault_platform``) and run in file order; each works on
days of its own, so counts per day and per sensor stay exact whatever the earlier cases
left behind. Measured figures go to ``artifacts/faults/sensor_faults.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest
import sqlalchemy.exc
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.scheduler.instigation import InstigatorState, InstigatorType, TickStatus
from dagster._core.storage.tags import RUN_KEY_TAG

from platform_stack.topology import Topology
from tests.system.harness import eventually as _eventually
from tests.system.harness import landing_dir, warehouse_of
from tests.system.landing import Day, deliver, deliver_reference

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

SENSOR_TAG = "dagster/sensor_name"
PARENT_TAG = "dagster/parent_run_id"
ROOT_TAG = "dagster/root_run_id"
SOURCE_FILE_TAG = "ingestion/source_file"
SHA256_TAG = "ingestion/sha256"
FILE_SENSORS = ("sales_file_sensor", "orders_file_sensor")
CUSTOMER_ORDERS = AssetKey(["transformation", "customer_orders"])
CROSS_SENSORS = ("sales_models_sensor", "regional_sales_sensor", "transformation_updates_sensor")
# Messages DuckDB and the warehouse resource produce when two writers collide.
LOCK_ERRORS = ("could not set lock", "conflicting lock", "database is locked", "lock on file")
SETTLE_TIMEOUT = 600

DELIVERED: dict[str, Day] = {}
FIGURES: dict[str, object] = {}


def _day(date: str, index: int, lines: int = 60) -> Day:
    """A day whose ids do not collide with any other day of this module."""
    return Day(date=date, first_id=10_000_000 + index * 10_000, lines=lines)


def _deliver_sales(landing: Path, *days: Day) -> None:
    """Sales files only: the sales chain is what the cases watch, and every run costs
    seconds on two cores (warehouse writers run one at a time)."""
    for day in days:
        deliver(landing / "sales" / f"{day.date}.csv", day.sales_csv())
        DELIVERED[day.date] = day


# -- observing the platform -------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def figures(pytestconfig: pytest.Config) -> Iterator[dict[str, object]]:
    yield FIGURES
    out = pytestconfig.rootpath / "artifacts" / "faults"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sensor_faults.json").write_text(json.dumps(FIGURES, indent=2, sort_keys=True))


def eventually(
    check: Callable[[], object], timeout: float, what: str, *, interval: float = 1.0
) -> object:
    """``harness.eventually`` that treats a dropped PostgreSQL connection as "not yet":
    other suites on the same machine may restart the server briefly."""

    def tolerant() -> object:
        try:
            return check()
        except (sqlalchemy.exc.OperationalError, psycopg2.OperationalError):
            return False

    return _eventually(tolerant, timeout, what, interval=interval)


def _record(name: str, value: object) -> None:
    FIGURES[name] = value
    print(f"[sensor-faults] {name} = {value}")


def _runs(instance: DagsterInstance) -> list[DagsterRun]:
    return list(instance.get_runs())


def _created_after(instance: DagsterInstance, timestamp: float) -> list[DagsterRun]:
    return [
        rec.dagster_run
        for rec in instance.get_run_records()
        if rec.create_timestamp.timestamp() > timestamp
    ]


def _by_sensor(runs: Iterable[DagsterRun], sensor: str) -> list[DagsterRun]:
    return [r for r in runs if r.tags.get(SENSOR_TAG) == sensor]


def _file_runs(
    runs: Iterable[DagsterRun], feed: str, date: str, *, retries: bool = False
) -> list[DagsterRun]:
    """The runs the file sensor requested for a day (with ``retries``, their retries too:
    an overloaded code server can miss a launch deadline, and the run is retried)."""
    return [
        r
        for r in runs
        if r.tags.get(SENSOR_TAG) == f"{feed}_file_sensor"
        and r.tags.get("dagster/partition") == date
        and (retries or PARENT_TAG not in r.tags)
    ]


def _requested(instance: DagsterInstance) -> Counter[str | None]:
    """Runs requested per sensor (retries are the platform's, not a sensor's)."""
    return Counter(r.tags.get(SENSOR_TAG) for r in _runs(instance) if PARENT_TAG not in r.tags)


def _loads(runs: Iterable[DagsterRun], feed: str, date: str) -> int:
    """Successful runs loading a day's file, retries included: exactly once means one."""
    return sum(
        r.status == DagsterRunStatus.SUCCESS for r in _file_runs(runs, feed, date, retries=True)
    )


def _sensor_state(instance: DagsterInstance, name: str) -> InstigatorState:
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    found = [s for s in states if s.instigator_name == name]
    assert len(found) == 1, [s.instigator_name for s in states]
    return found[0]


def _cursor(instance: DagsterInstance, name: str) -> str | None:
    data = _sensor_state(instance, name).instigator_data
    return getattr(data, "cursor", None)


def _finished_ticks_after(instance: DagsterInstance, name: str, after: float) -> int:
    state = _sensor_state(instance, name)
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
    return sum(1 for t in ticks if t.timestamp > after and t.status != TickStatus.STARTED)


def _failures(instance: DagsterInstance, runs: Iterable[DagsterRun]) -> list[str]:
    """Failed runs, except those a retry then completed (a launch that missed its
    deadline on an overloaded machine is failed by the platform and retried)."""
    runs = list(runs)
    recovered = {
        r.tags.get(ROOT_TAG) for r in runs if PARENT_TAG in r.tags and r.status.value == "SUCCESS"
    }
    out = []
    for run in runs:
        if run.status == DagsterRunStatus.SUCCESS or not run.is_finished:
            continue
        if run.tags.get(ROOT_TAG, run.run_id) in recovered:
            _record("runs_failed_then_retried_successfully", len(recovered))
            continue
        errors = [
            e.message for e in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
        ]
        out.append(f"{run.job_name} {run.run_id[:8]} {run.status.value}: {errors[:1]}")
    return out


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _regional(platform: Topology, dates: Iterable[str]) -> dict[str, dict]:
    wanted = sorted(dates)
    with warehouse_of(platform).get_connection() as conn:
        if not _table_exists(conn, "transformation", "regional_daily_sales"):
            return {}
        rows = conn.execute(
            "SELECT strftime(date, '%Y-%m-%d'), region, orders, units, revenue "
            "FROM transformation.regional_daily_sales "
            "WHERE list_contains(?, strftime(date, '%Y-%m-%d')) AND (orders > 0 OR units > 0)",
            [wanted],
        ).fetchall()
    result: dict[str, dict] = {}
    for date, region, orders, units, revenue in rows:
        result.setdefault(date, {})[region] = (orders, units, revenue)
    return result


def _summary(platform: Topology) -> dict[str, tuple[int, Decimal]]:
    with warehouse_of(platform).get_connection() as conn:
        if not _table_exists(conn, "analytics", "sales_summary"):
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


def _settled(platform: Topology, instance: DagsterInstance) -> bool:
    """Every delivered day is in transformation and analytics, and nothing is running."""
    if any(not r.is_finished for r in _runs(instance)):
        return False
    expected = {d.date: d.regional() for d in DELIVERED.values()}
    return (
        _regional(platform, expected) == expected
        and _summary(platform) == _expected_summary()
        and not any(not r.is_finished for r in _runs(instance))
    )


def _wait_settled(platform: Topology, instance: DagsterInstance, what: str) -> float:
    started = time.monotonic()
    eventually(lambda: _settled(platform, instance), SETTLE_TIMEOUT, what)
    return round(time.monotonic() - started, 1)


def _exactly_once_in_warehouse(platform: Topology, days: Iterable[Day]) -> None:
    """Each day's good sale rows are in ingestion and transformation once, no more, no
    less, and regional_daily_sales has one row per region."""
    with warehouse_of(platform).get_connection() as conn:
        for day in days:
            for table, column, key in (
                ("ingestion.sales", "sale_date", "sale_id"),
                ("transformation.enriched_sales", "sale_date", "sale_id"),
            ):
                row = conn.execute(
                    f"SELECT count(*), count(DISTINCT {key}) FROM {table} WHERE {column} = ?::DATE",
                    [day.date],
                ).fetchone()
                assert row == (day.lines, day.lines), (table, day.date, row)
            dupes = conn.execute(
                "SELECT region, count(*) FROM transformation.regional_daily_sales "
                "WHERE date = ?::DATE GROUP BY region HAVING count(*) > 1",
                [day.date],
            ).fetchall()
            assert dupes == [], (day.date, dupes)


def _one_run_per_key(runs: Iterable[DagsterRun]) -> Counter[str]:
    """Runs per run key, retries of a run excluded (they re-execute the same run)."""
    return Counter(
        r.tags[RUN_KEY_TAG] for r in runs if RUN_KEY_TAG in r.tags and PARENT_TAG not in r.tags
    )


def _lock_errors(platform: Topology, instance: DagsterInstance) -> list[str]:
    found = []
    for run in _runs(instance):
        for entry in instance.all_logs(run.run_id):
            text = (entry.user_message or "") + (
                str(entry.dagster_event.event_specific_data) if entry.dagster_event else ""
            )
            if any(pattern in text.lower() for pattern in LOCK_ERRORS):
                found.append(f"run {run.run_id[:8]} {run.job_name}: {text[:200]}")
    assert platform.log_dir is not None
    for log in sorted(platform.log_dir.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if any(pattern in line.lower() for pattern in LOCK_ERRORS):
                found.append(f"{log.name}: {line[:200]}")
    return found


# -- the cases --------------------------------------------------------------------------


def _write_slowly(path: Path, text: str, seconds: float, chunks: int = 24) -> None:
    """Append ``text`` to ``path`` in pieces over ``seconds``, like a slow network copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = len(text) // chunks + 1
    with path.open("w") as f:
        for i in range(chunks):
            f.write(text[i * size : (i + 1) * size])
            f.flush()
            time.sleep(seconds / chunks)


def _sales_runs_finished(instance: DagsterInstance, days: Iterable[Day]) -> bool:
    runs = _runs(instance)
    mine = [_file_runs(runs, "sales", d.date) for d in days]
    return all(mine) and all(r.is_finished for found in mine for r in found)


@pytest.mark.timeout(1200)
def test_delivery_races_each_file_once(
    fault_platform: Topology, instance: DagsterInstance, tmp_path: Path
) -> None:
    landing = landing_dir(fault_platform)
    deliver_reference(landing)
    # One day of orders first: analytics' customer_lifetime_value reads customer_orders,
    # which exists once orders have loaded; without it every analytics refresh fails.
    orders_day = _day("2025-03-01", 0)
    deliver(landing / "orders" / f"{orders_day.date}.csv", orders_day.orders_csv())
    eventually(
        lambda: instance.get_latest_materialization_event(CUSTOMER_ORDERS) is not None,
        SETTLE_TIMEOUT,
        "a first build of transformation/customer_orders",
    )

    slow = _day("2025-03-03", 1, lines=20_000)
    same_mtime = [_day(f"2025-03-{d:02d}", d) for d in range(5, 8)]
    old_copy = _day("2025-03-10", 10)
    days = [slow, *same_mtime, old_copy]
    started = time.monotonic()

    # 1. A large file appended to for several seconds under its final name.
    writer = threading.Thread(
        target=_write_slowly, args=(landing / "sales" / f"{slow.date}.csv", slow.sales_csv(), 8.0)
    )
    writer.start()
    # 2. Several files sharing one mtime to the nanosecond.
    _deliver_sales(landing, *same_mtime)
    stamp = time.time_ns()
    for day in same_mtime:
        os.utime(landing / "sales" / f"{day.date}.csv", ns=(stamp, stamp))
    # 3. A copy that keeps an mtime from long ago (cp -p).
    staged = tmp_path / "staged.csv"
    staged.write_text(old_copy.sales_csv())
    long_ago = time.time() - 400 * 86_400
    os.utime(staged, (long_ago, long_ago))
    shutil.copy2(staged, landing / "sales" / f"{old_copy.date}.csv")
    writer.join()
    DELIVERED.update({d.date: d for d in days})

    eventually(
        lambda: _sales_runs_finished(instance, days), SETTLE_TIMEOUT, "a run per delivered file"
    )
    _record("races_seconds_to_ingest", round(time.monotonic() - started, 1))

    # 4. The identical bytes again: renamed into place (new mtime), and copied with -p.
    deliver(landing / "sales" / f"{same_mtime[0].date}.csv", same_mtime[0].sales_csv())
    shutil.copy2(staged, landing / "sales" / f"{old_copy.date}.csv")
    redelivered = time.time()
    eventually(
        lambda: _finished_ticks_after(instance, "sales_file_sensor", redelivered) >= 2,
        180,
        "two sales sensor ticks after the identical re-deliveries",
    )

    runs = _runs(instance)
    assert _failures(instance, runs) == []
    for day in days:
        assert len(_file_runs(runs, "sales", day.date)) == 1, day.date
        assert _loads(runs, "sales", day.date) == 1, day.date
    # The slow file was read whole: the run names the hash of the complete file.
    full = hashlib.sha256((landing / "sales" / f"{slow.date}.csv").read_bytes()).hexdigest()
    assert {r.tags[SHA256_TAG] for r in _file_runs(runs, "sales", slow.date, retries=True)} == {
        full
    }
    with warehouse_of(fault_platform).get_connection() as conn:
        loaded = dict(
            conn.execute(
                "SELECT strftime(sale_date, '%Y-%m-%d'), count(*) FROM ingestion.sales GROUP BY ALL"
            ).fetchall()
        )
        rejected = conn.execute(
            "SELECT count(*) FROM ingestion.rejected_rows WHERE asset = 'sales' "
            "AND partition_key = ?",
            [slow.date],
        ).fetchone()
    assert {d.date: loaded.get(d.date) for d in days} == {d.date: d.lines for d in days}
    # A half-read file would have quarantined its cut last line too.
    assert rejected == (len(slow.bad_lines),)
    # Transformation and analytics are checked by the next case, which overlaps them.


def _unwritten_rebuild(instance: DagsterInstance) -> DagsterRun | None:
    """An unfinished transformation rebuild that has not materialized anything yet."""
    for sensor in ("sales_models_sensor", "regional_sales_sensor"):
        for run in _by_sensor(_runs(instance), sensor):
            if not run.is_finished and not instance.all_logs(
                run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            ):
                return run
    return None


@pytest.mark.timeout(1200)
def test_overlapping_writers_never_collide(
    fault_platform: Topology, instance: DagsterInstance
) -> None:
    landing = landing_dir(fault_platform)
    first, second = (_day(f"2025-04-{d:02d}", 100 + d, lines=400) for d in (1, 2))
    started = time.monotonic()
    # From the moment a downstream rebuild is on its way, an outside session (as an
    # analyst's would) holds a connection to the lake open while the next day is delivered
    # and its ingestion run created: on the lake that session holds nobody up, so the
    # rebuild and the new load write at the same time.
    _deliver_sales(landing, first)
    held = None
    for _ in range(6):
        eventually(
            lambda: _unwritten_rebuild(instance),
            SETTLE_TIMEOUT,
            "a transformation rebuild on its way",
            interval=0.2,
        )
        with warehouse_of(fault_platform).get_connection():
            # A rebuild that has written already is let go, and the next hop is waited for.
            held = _unwritten_rebuild(instance)
            if held is not None:
                locked_at = time.monotonic()
                _deliver_sales(landing, second)
                eventually(
                    lambda: _file_runs(_runs(instance), "sales", second.date),
                    120,
                    "an ingestion run for the day delivered while the rebuild waits",
                    interval=0.2,
                )
                _record("overlap_lock_held_seconds", round(time.monotonic() - locked_at, 1))
                break
        time.sleep(1)
    assert held is not None, "every rebuild wrote before the next day could be delivered"
    _record("overlap_seconds_to_settle", _wait_settled(fault_platform, instance, "all days"))
    _record("overlap_total_seconds", round(time.monotonic() - started, 1))

    records = instance.get_run_records()
    spans = [
        (
            rec.dagster_run.tags.get(SENSOR_TAG),
            rec.create_timestamp.timestamp(),
            rec.start_time,
            rec.end_time,
        )
        for rec in records
        if rec.start_time and rec.end_time
    ]
    pairs = [
        (a, b)
        for a in spans
        for b in spans
        if a[0] in FILE_SENSORS and b[0] in CROSS_SENSORS and a[1] < b[3] and b[1] < a[3]
    ]
    executing = [(a, b) for a, b in pairs if a[2] < b[3] and b[2] < a[3]]  # type: ignore[operator]
    _record("overlap_runs_in_flight_together", len(pairs))
    # Writing runs of every location execute together: no pool serialises the lake.
    _record("overlap_runs_executing_together", len(executing))
    held_record = instance.get_run_record_by_id(held.run_id)
    assert held_record is not None
    assert held_record.end_time is not None
    created = [
        rec.create_timestamp.timestamp()
        for rec in records
        if rec.dagster_run.tags.get(SENSOR_TAG) == "sales_file_sensor"
        and rec.dagster_run.tags.get("dagster/partition") == second.date
    ]
    assert created, "no ingestion run for the day delivered while the rebuild waited"
    # Created before the held rebuild ended: both were in flight together.
    assert min(created) < held_record.end_time
    assert pairs
    assert _failures(instance, _runs(instance)) == []
    assert _lock_errors(fault_platform, instance) == []
    _exactly_once_in_warehouse(fault_platform, DELIVERED.values())
    with warehouse_of(fault_platform).get_connection() as conn:
        daily = conn.execute(
            "SELECT count(*), count(DISTINCT date) FROM transformation.daily_sales "
            "WHERE list_contains(?, strftime(date, '%Y-%m-%d'))",
            [sorted(DELIVERED)],
        ).fetchone()
    assert daily == (len(DELIVERED), len(DELIVERED))


@pytest.mark.timeout(1200)
def test_location_down_catches_up_once(fault_platform: Topology, instance: DagsterInstance) -> None:
    landing = landing_dir(fault_platform)
    missed = [_day(f"2025-05-{d:02d}", 200 + d) for d in (1, 2)]
    fault_platform.processes["transformation"].stop(group=False)
    assert not fault_platform.code_server_serving("transformation")
    down_at = time.time()
    _deliver_sales(landing, *missed)

    eventually(
        lambda: _sales_runs_finished(instance, missed),
        SETTLE_TIMEOUT,
        "ingestion of the days transformation missed",
    )
    assert [r for r in _created_after(instance, down_at) if _is_transformation(r)] == []

    back = time.monotonic()
    back_at = time.time()
    fault_platform.start_location("transformation")
    fault_platform.reload_location("transformation")
    _record(
        "location_down_seconds_to_catch_up", _wait_settled(fault_platform, instance, "catch-up")
    )
    _record("location_down_restart_to_settled_seconds", round(time.monotonic() - back, 1))

    after = _created_after(instance, back_at)
    counts = Counter(
        r.tags.get(SENSOR_TAG) for r in after if _is_transformation(r) and PARENT_TAG not in r.tags
    )
    _record("location_down_transformation_runs", dict(counts))
    # The contiguous missed days come back as one range run of each sales job, both
    # requested by the sales sensor.
    assert counts["sales_models_sensor"] == 2
    assert counts["regional_sales_sensor"] == 0
    (models,) = [r for r in _by_sensor(after, "sales_models_sensor") if not _is_regional(r)]
    assert (
        models.tags["dagster/asset_partition_range_start"],
        models.tags["dagster/asset_partition_range_end"],
    ) == (missed[0].date, missed[-1].date)
    assert _failures(instance, after) == []
    _exactly_once_in_warehouse(fault_platform, missed)


def _is_regional(run: DagsterRun) -> bool:
    return run.job_name == "regional_sales_job"


def _is_transformation(run: DagsterRun) -> bool:
    origin = run.remote_job_origin
    return bool(origin and origin.location_name == "transformation")


def _set_cursor(platform: Topology, location: str, sensor: str, cursor: str | None) -> None:
    data = platform.graphql(
        """mutation($selector: SensorSelector!, $cursor: String) {
             setSensorCursor(sensorSelector: $selector, cursor: $cursor) { __typename } }""",
        {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": "__repository__",
                "sensorName": sensor,
            },
            "cursor": cursor,
        },
    )
    assert data["setSensorCursor"]["__typename"] == "Sensor", data


def _latest_tick_id(instance: DagsterInstance, name: str) -> tuple[int | None, bool]:
    """The id of the sensor's newest tick, and whether that tick is still in flight."""
    state = _sensor_state(instance, name)
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
    if not ticks:
        return None, False
    return ticks[0].tick_id, ticks[0].status == TickStatus.STARTED


def _clear_cursor(
    platform: Topology, instance: DagsterInstance, location: str, sensor: str
) -> None:
    """Clear a sensor's cursor between two of its ticks, as an operator's reset that holds.

    A tick reads the cursor when it starts and stores its own when it ends, so a reset
    that lands mid-tick is overwritten: clear again until no tick spanned the reset.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        before, in_flight = _latest_tick_id(instance, sensor)
        if not in_flight:
            _set_cursor(platform, location, sensor, None)
            after, _ = _latest_tick_id(instance, sensor)
            if after == before and not _cursor(instance, sensor):
                return
        time.sleep(0.05)
    pytest.fail(f"{sensor}: its cursor could not be cleared between two ticks in 60 s")


@pytest.mark.timeout(1200)
def test_cursor_reset_requests_nothing_twice(
    fault_platform: Topology, instance: DagsterInstance
) -> None:
    landing = landing_dir(fault_platform)
    # A corrected re-delivery first, so one file is on its second version when reset.
    first = DELIVERED["2025-03-05"]
    corrected = Day(date=first.date, first_id=first.first_id, bump_quantity_of=3)
    _deliver_sales(landing, corrected)
    _wait_settled(fault_platform, instance, "the corrected day")
    assert len(_file_runs(_runs(instance), "sales", corrected.date)) == 2

    before = _requested(instance)
    reset = {
        "sales_file_sensor": "ingestion",
        "reference_files_sensor": "ingestion",
        "sales_models_sensor": "transformation",
        "regional_sales_sensor": "transformation",
        "transformation_updates_sensor": "analytics",
    }
    reset_at = time.time()
    for sensor, location in reset.items():
        _clear_cursor(fault_platform, instance, location, sensor)
        assert not _cursor(instance, sensor)
    started = time.monotonic()
    # The first tick with an empty cursor is the one that would request everything again.
    eventually(
        lambda: all(_finished_ticks_after(instance, s, reset_at) >= 1 for s in reset),
        240,
        "a tick of every reset sensor",
    )
    _record("cursor_reset_seconds_to_first_ticks", round(time.monotonic() - started, 1))
    _wait_settled(fault_platform, instance, "the platform after the cursor reset")

    after = _requested(instance)
    assert after == before
    # The file sensor rebuilt its state from the run history instead of staying empty.
    rebuilt = json.loads(_cursor(instance, "sales_file_sensor") or "{}")
    assert set(rebuilt.get("files", {})) >= {f"sales/{d}.csv" for d in DELIVERED}
    assert max(_one_run_per_key(_runs(instance)).values()) == 1


def _kill_daemon_mid_submission(
    platform: Topology, instance: DagsterInstance, sensors: tuple[str, ...], timeout: float
) -> dict[str, object]:
    """SIGKILL the daemon while a tick of one of ``sensors`` is submitting its runs."""
    states = {s: _sensor_state(instance, s) for s in sensors}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, state in states.items():
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
            tick = ticks[0] if ticks else None
            if tick is None or tick.status != TickStatus.STARTED:
                continue
            reserved = len(list(tick.reserved_run_ids_with_requests))
            if reserved:
                pid = platform.kill("daemon", signal.SIGKILL)
                done = len(tick.run_ids)
                return {"sensor": name, "pid": pid, "requests": reserved, "submitted": done}
        time.sleep(0.02)
    pytest.fail(f"no tick of {sensors} was caught submitting runs within {timeout:.0f} s")


@pytest.mark.timeout(1200)
def test_daemon_killed_mid_tick_launches_each_run_once(
    fault_platform: Topology, instance: DagsterInstance
) -> None:
    landing = landing_dir(fault_platform)
    # Every other day: the gaps make the cross-location sensors request several ranges.
    days = [_day(f"2025-06-{d:02d}", 300 + d) for d in range(1, 13, 2)]
    started = time.monotonic()
    _deliver_sales(landing, *days)

    kills = [_kill_daemon_mid_submission(fault_platform, instance, ("sales_file_sensor",), 120)]
    restart = time.monotonic()
    fault_platform.start_host("daemon")
    _record("daemon_restart_seconds", round(time.monotonic() - restart, 1))
    # A second kill while a cross-location sensor submits its range runs.
    kills.append(_kill_daemon_mid_submission(fault_platform, instance, CROSS_SENSORS, 300))
    fault_platform.start_host("daemon")
    _record("daemon_kills", kills)
    _record("daemon_seconds_to_catch_up", _wait_settled(fault_platform, instance, "catch-up"))
    _record("daemon_case_total_seconds", round(time.monotonic() - started, 1))

    runs = _runs(instance)
    per_key = _one_run_per_key(runs)
    _record("daemon_runs_with_a_run_key", sum(per_key.values()))
    assert [k for k, n in per_key.items() if n > 1] == []
    for day in days:
        assert len(_file_runs(runs, "sales", day.date)) == 1, day.date
        assert _loads(runs, "sales", day.date) == 1, day.date
    assert _failures(instance, runs) == []
    # The cursor moved past every delivered file, with the hash of what was loaded.
    cursor = json.loads(_cursor(instance, "sales_file_sensor") or "{}")
    for day in days:
        relative = f"sales/{day.date}.csv"
        digest = hashlib.sha256((landing / relative).read_bytes()).hexdigest()
        assert cursor["files"][relative]["sha256"] == digest, relative
    _exactly_once_in_warehouse(fault_platform, DELIVERED.values())
    daemon_log = fault_platform.processes["daemon"].log_path.read_text(errors="replace")
    _record("daemon_resumed_ticks", daemon_log.count("was interrupted part-way through, resuming"))
