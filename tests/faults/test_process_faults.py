"""Process crashes and database restarts on the real topology: nothing is lost.

The cases share one platform (``fault_platform``) and run in file order, each on a day
of its own, so a case never inherits another's run. Each loads a day of sales, then
re-delivers a large changed file for that day and hits the reload while its run worker
holds the warehouse open (the partition's transaction is under way): the partition must
hold the old rows or the complete new ones, and the run must reach a verdict (retried
where it died). The database restarts come last: they touch every process.

Recovery times are printed and written to ``artifacts/faults/process_faults.json``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus

from platform_shared.run_health import worker_report
from platform_stack.topology import Topology
from tests.alert_receivers import Hooks, Mailbox, body
from tests.faults.conftest import PlatformFactory
from tests.postgres_cluster import PostgresServer, ServerUnavailable
from tests.system.harness import (
    TEAMS,
    alert_environ,
    eventually,
    landing_dir,
    sensor_ticked_after,
    warehouse_of,
)
from tests.system.landing import Day, deliver

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

SENSOR = "dagster/sensor_name"
PARTITION = "dagster/partition"
PARENT = "dagster/parent_run_id"
# Large enough that the load's transaction lasts seconds on two cores.
# Large enough that the load holds the warehouse for seconds, long enough to be caught.
BIG_ROWS = 2_000_000
LOCATIONS = ("ingestion", "transformation", "analytics")
MEASURED: dict[str, float] = {}

# (rows, revenue) of a sales partition.
Stats = tuple[int, Decimal]


def _record(name: str, seconds: float) -> None:
    MEASURED[name] = round(seconds, 1)
    print(f"\n[faults] {name}: {seconds:.1f} s")


@pytest.fixture(scope="module", autouse=True)
def _write_measurements(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    out = pytestconfig.rootpath / "artifacts" / "faults"
    out.mkdir(parents=True, exist_ok=True)
    (out / "process_faults.json").write_text(json.dumps(MEASURED, indent=2) + "\n")


_SENSORS = """query($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) {
    ... on Sensors { results { id name sensorState { status } } } } }"""


@pytest.fixture(scope="module")
def fault_platform(
    start_platform: PlatformFactory, receivers: tuple[Mailbox, Hooks, Path]
) -> Iterator[Topology]:
    """This module's platform, its alerts sent to the module's receivers."""
    box, hooks, routes = receivers
    alerting = alert_environ(routes, box.port, {t: f"{hooks.url}/{t}" for t in TEAMS})
    with start_platform("process_faults", **alerting) as topology:
        yield topology


@pytest.fixture(scope="module")
def platform(fault_platform: Topology) -> Topology:
    """The shared platform with the downstream teams' sensors stopped.

    The faults hit ingestion runs; the transformation and analytics runs each load would
    set off only compete for the warehouse and two cores. Their health sensors stay on.
    """
    for location in ("transformation", "analytics"):
        _stop_sensors(fault_platform, location, keep=HEALTH_SENSORS)
    return fault_platform


HEALTH_SENSORS = {"orphaned_runs_sensor", "run_failure_alerts", "freshness_alerts"}


def _stop_sensors(topology: Topology, location: str, keep: set[str]) -> None:
    """Stop every sensor of ``location`` but ``keep``, until the stop holds.

    A tick already in flight when ``stopSensor`` lands writes back the state it read
    before the stop, which turns the sensor on again; so stop, wait, and stop again
    until three polls in a row see only ``keep`` running.
    """
    selector = {"repositoryLocationName": location, "repositoryName": "__repository__"}
    deadline = time.monotonic() + 90
    quiet = 0
    running: set[str] = set()
    while quiet < 3:
        sensors = topology.graphql(_SENSORS, {"selector": selector})["sensorsOrError"]["results"]
        running = {s["name"] for s in sensors if s["sensorState"]["status"] == "RUNNING"}
        extra = [s for s in sensors if s["name"] in running - keep]
        quiet = 0 if extra else quiet + 1
        for sensor in extra:
            topology.graphql(
                "mutation($id: String) { stopSensor(id: $id) { __typename } }",
                {"id": sensor["id"]},
            )
        assert time.monotonic() < deadline, (location, running)
        time.sleep(2)
    assert running == keep, (location, running)


# -- data ------------------------------------------------------------------------------


def _big_sales_csv(path: Path, date: str, rows: int) -> Stats:
    """A large, valid sales file for ``date``; its expected (rows, revenue)."""
    import duckdb

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        conn.execute(
            f"""COPY (SELECT 5000000 + i AS sale_id, 5000000 + i // 3 AS order_id,
                       1 + (i // 3) % 4 AS customer_id, 3 AS product_id,
                       1 + i % 4 AS quantity, '1.50' AS unit_price,
                       '{date} 12:00:00' AS sale_ts
                FROM range({rows}) t(i))
                TO '{tmp.as_posix()}' (HEADER, DELIMITER ',')"""
        )
    tmp.rename(path)
    units = sum(1 + i % 4 for i in range(4)) * (rows // 4) + sum(1 + i % 4 for i in range(rows % 4))
    return rows, units * Decimal("1.50")


def _day_stats(day: Day) -> Stats:
    return len(day.sales), sum((q * p for *_, q, p, _ in day.sales), Decimal(0))


def _stats(platform: Topology, date: str) -> Stats:
    with warehouse_of(platform).get_connection() as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'ingestion' AND table_name = 'sales'"
        ).fetchone()
        if not exists or not exists[0]:
            return 0, Decimal(0)
        row = conn.execute(
            "SELECT count(*), coalesce(sum(quantity * unit_price), 0) FROM ingestion.sales "
            "WHERE sale_date = ?::DATE",
            [date],
        ).fetchone()
    assert row is not None
    return int(row[0]), Decimal(row[1])


def _load_small_days(platform: Topology, *days: Day) -> dict[str, Stats]:
    """Deliver ``days`` and wait until their partitions are loaded: the "old" data."""
    for day in days:
        deliver(landing_dir(platform) / "sales" / f"{day.date}.csv", day.sales_csv())
    old = {day.date: _day_stats(day) for day in days}
    eventually(
        lambda: all(_stats(platform, date) == stats for date, stats in old.items()),
        240,
        f"sales of {', '.join(old)} loaded",
    )
    return old


# One day per case; the days reloaded under a fault are loaded once, together, up front.
WORKER_KILL = Day(date="2025-03-06", first_id=60_000)
GROUP_KILL = Day(date="2025-03-01", first_id=10_000)
GRACEFUL = Day(date="2025-03-02", first_id=20_000)
PG_IDLE = Day(date="2025-03-04", first_id=40_000)
PG_BUSY = Day(date="2025-03-05", first_id=50_000)


@pytest.fixture(scope="module")
def old_data(platform: Topology) -> dict[str, Stats]:
    return _load_small_days(platform, WORKER_KILL, GROUP_KILL, GRACEFUL, PG_BUSY)


# -- runs ------------------------------------------------------------------------------


def _sales_runs(instance: DagsterInstance, date: str) -> list[DagsterRun]:
    return [
        r
        for r in instance.get_runs()
        if r.tags.get(PARTITION) == date and r.tags.get(SENSOR) == "sales_file_sensor"
    ]


def _failure(instance: DagsterInstance, run: DagsterRun) -> str:
    events = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
    return f"{run.job_name} {run.status.value}: {[e.message for e in events][:1]}"


def _writing(pid: int, landing_file: Path, data_path: Path) -> bool:
    """Whether ``pid`` has the landing file or a Parquet file of the lake open: it is
    inside the load's transaction, reading the file or writing its rows."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if target == landing_file or target.is_relative_to(data_path):
            return True
    return False


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _reload_mid_write(
    platform: Topology, instance: DagsterInstance, date: str
) -> tuple[DagsterRun, int, Stats]:
    """Re-deliver a large changed file for ``date`` and wait until the worker of its run
    is inside the load's transaction (reading the file, writing the lake's Parquet).
    Returns the run, the worker's pid (a child of the ingestion code server) and the
    expected new stats."""
    before = {r.run_id for r in _sales_runs(instance, date)}
    new = _big_sales_csv(landing_dir(platform) / "sales" / f"{date}.csv", date, BIG_ROWS)
    run = eventually(
        lambda: next((r for r in _sales_runs(instance, date) if r.run_id not in before), None),
        120,
        f"the reload run of {date}",
    )
    assert isinstance(run, DagsterRun)
    report = eventually(lambda: worker_report(instance, run.run_id), 120, "its worker's pid")
    pid = report.pid  # type: ignore[union-attr]
    landing_file = (landing_dir(platform) / "sales" / f"{date}.csv").resolve()
    data_path = Path(platform.environ["WAREHOUSE_DATA_PATH"]).resolve()
    eventually(
        lambda: _writing(pid, landing_file, data_path) or not _pid_alive(pid),
        120,
        "the run worker to read the file in its transaction",
        # The load reads the file for a second or two: look often enough to catch it.
        interval=0.05,
    )
    assert _pid_alive(pid), _failure(instance, instance.get_run_by_id(run.run_id) or run)
    code_server = platform.processes["ingestion"].pid
    assert code_server is not None
    assert pid in _descendants(code_server), "the run worker is a child of its code server"
    return run, pid, new


def _finished(instance: DagsterInstance, run_id: str) -> DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.is_finished else None


def _retry_of(instance: DagsterInstance, run_id: str) -> DagsterRun | None:
    return next((r for r in instance.get_runs() if r.tags.get(PARENT) == run_id), None)


def _assert_old_or_new(platform: Topology, date: str, old: Stats, new: Stats) -> Stats:
    stats = _stats(platform, date)
    assert stats in (old, new), f"{date} holds {stats}: neither old {old} nor new {new}"
    return stats


def _retry_diagnosis(instance: DagsterInstance, failed: DagsterRun) -> str:
    """Why a retry may be missing: the run's retry tags, the last engine events (the retry
    daemon writes there when it declines or fails to retry) and the daemons' heartbeats."""
    run = instance.get_run_by_id(failed.run_id) or failed
    tags = {k: v for k, v in run.tags.items() if "retry" in k or "failure" in k}
    engine = instance.all_logs(failed.run_id, of_type=DagsterEventType.ENGINE_EVENT)
    beats = {
        kind: round(time.time() - beat.timestamp, 1)
        for kind, beat in instance.get_daemon_heartbeats().items()
    }
    return (
        f"tags {tags}; last engine events {[e.message for e in engine][-4:]}; "
        f"seconds since each daemon's heartbeat {beats}"
    )


def _assert_no_failure_alert(
    platform: Topology, receivers: tuple[Mailbox, Hooks, Path], failed: DagsterRun
) -> None:
    """A run retried to success raises no alarm: once ingestion's alert sensor has ticked
    after the retry finished, nobody received a word about the failed run."""
    finished = time.time()
    eventually(
        lambda: sensor_ticked_after(platform, "ingestion", "run_failure_alerts", finished),
        120,
        "a tick of ingestion's run_failure_alerts after the retry",
    )
    box, hooks, _ = receivers
    assert not [m["Subject"] for m in box.messages if failed.run_id in body(m)]
    assert not [h for _, h in hooks.received if h.get("run_id") == failed.run_id]


def _await_retry_success(
    instance: DagsterInstance, failed: DagsterRun, timeout: float
) -> DagsterRun:
    try:
        retry = eventually(lambda: _retry_of(instance, failed.run_id), timeout, "a retry run")
    except pytest.fail.Exception as missing:
        pytest.fail(f"{missing}: {_retry_diagnosis(instance, failed)}")
    assert isinstance(retry, DagsterRun)
    done = eventually(lambda: _finished(instance, retry.run_id), timeout, "the retry to finish")
    assert isinstance(done, DagsterRun)
    assert done.status == DagsterRunStatus.SUCCESS, _failure(instance, done)
    assert done.tags.get("dagster/retry_number") == "1"
    return done


# -- cases -----------------------------------------------------------------------------


def test_run_worker_killed_mid_reload_keeps_old_or_new(
    platform: Topology,
    instance: DagsterInstance,
    old_data: dict[str, Stats],
    receivers: tuple[Mailbox, Hooks, Path],
) -> None:
    day, old = WORKER_KILL, old_data[WORKER_KILL.date]
    run, pid, new = _reload_mid_write(platform, instance, day.date)

    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    failed = eventually(lambda: _finished(instance, run.run_id), 60, "the killed run's verdict")
    assert isinstance(failed, DagsterRun)
    _record("worker_kill_to_run_failed_s", time.monotonic() - killed)
    assert failed.status == DagsterRunStatus.FAILURE
    # The transaction died with its process: the partition is exactly as before.
    assert _stats(platform, day.date) == old
    assert platform.code_server_serving("ingestion")

    retry = _await_retry_success(instance, failed, 240)
    _record("worker_kill_to_retry_success_s", time.monotonic() - killed)
    assert retry.tags.get(PARTITION) == day.date
    assert _stats(platform, day.date) == new
    _assert_no_failure_alert(platform, receivers, failed)


def test_code_server_group_killed_mid_run_is_retried(
    platform: Topology, instance: DagsterInstance, old_data: dict[str, Stats]
) -> None:
    day, old = GROUP_KILL, old_data[GROUP_KILL.date]
    run, pid, new = _reload_mid_write(platform, instance, day.date)

    # The container dies: the code server and its run workers, all at once.
    platform.kill("ingestion", signal.SIGKILL, group=True)
    eventually(lambda: not _pid_alive(pid), 30, "the run worker to die with its group")
    assert _stats(platform, day.date) == old
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # type: ignore[union-attr]

    restarted = time.monotonic()
    platform.start_location("ingestion", timeout=90)
    _record("code_server_restart_to_serving_s", time.monotonic() - restarted)
    eventually(
        lambda: platform.location_statuses().get("ingestion") == "LOADED",
        90,
        "the webserver to serve the restarted location",
    )
    _record("code_server_restart_to_webserver_loaded_s", time.monotonic() - restarted)
    assert time.monotonic() - restarted < 90

    failed = eventually(lambda: _finished(instance, run.run_id), 120, "the orphaned run's verdict")
    assert isinstance(failed, DagsterRun)
    _record("code_server_restart_to_orphan_failed_s", time.monotonic() - restarted)
    assert failed.status == DagsterRunStatus.FAILURE, _failure(instance, failed)
    assert "gone without a verdict" in _failure(instance, failed)
    _assert_old_or_new(platform, day.date, old, new)

    retry = _await_retry_success(instance, failed, 300)
    _record("code_server_restart_to_retry_success_s", time.monotonic() - restarted)
    assert retry.tags.get(PARTITION) == day.date
    assert _stats(platform, day.date) == new


def test_graceful_code_server_stop_lets_the_run_finish(
    platform: Topology, instance: DagsterInstance, old_data: dict[str, Stats]
) -> None:
    day, old = GRACEFUL, old_data[GRACEFUL.date]
    run, pid, new = _reload_mid_write(platform, instance, day.date)

    restarted = time.monotonic()
    platform.restart_location("ingestion", timeout=90)
    _record("graceful_restart_to_serving_s", time.monotonic() - restarted)
    # The old code server is gone, its run worker is not.
    assert _pid_alive(pid) or _finished(instance, run.run_id)
    platform.reload_location("ingestion")
    assert platform.location_statuses()["ingestion"] == "LOADED"

    done = eventually(lambda: _finished(instance, run.run_id), 300, "the in-flight run")
    assert isinstance(done, DagsterRun)
    assert done.status == DagsterRunStatus.SUCCESS, _failure(instance, done)
    assert _stats(platform, day.date) == new != old
    assert _retry_of(instance, run.run_id) is None


# -- database --------------------------------------------------------------------------


# The scheduler daemon reports once a minute, at the minute: its first heartbeat after a
# restart comes up to 60 s later, plus a pass when that minute's write met the restart.
RECOVERY_S = 90


def _restart_postgres(server: PostgresServer) -> tuple[float, float]:
    """Restart the server; returns when it was back (monotonic and wall clock)."""
    try:
        server.restart()
    except ServerUnavailable as exc:
        pytest.fail(str(exc))
    return time.monotonic(), time.time()


def _daemon_beats_since(platform: Topology, since: float) -> bool:
    """The daemon's main loops have written heartbeats to the database since ``since``."""
    try:
        data = platform.graphql(
            "{ instance { daemonHealth { allDaemonStatuses "
            "{ daemonType healthy lastHeartbeatTime } } } }"
        )
    except (OSError, RuntimeError):
        return False
    beats = {
        s["daemonType"]: s["lastHeartbeatTime"] or 0
        for s in data["instance"]["daemonHealth"]["allDaemonStatuses"]
        if s["healthy"]
    }
    wanted = ("SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING")
    return all(beats.get(d, 0) > since for d in wanted)


def _everything_serves(platform: Topology, since: float) -> bool:
    return (
        all(p.alive() for p in platform.processes.values())
        and all(platform.code_server_serving(n) for n in LOCATIONS)
        and platform.webserver_ready()
        and _daemon_beats_since(platform, since)
    )


def test_postgres_restart_while_idle(
    platform: Topology, instance: DagsterInstance, postgres_server: PostgresServer
) -> None:
    back, back_wall = _restart_postgres(postgres_server)
    eventually(lambda: _everything_serves(platform, back_wall), RECOVERY_S, "every process")
    _record("postgres_idle_restart_to_all_serving_s", time.monotonic() - back)

    # A file delivered afterwards goes through sensor, queue, run worker and warehouse.
    _load_small_days(platform, PG_IDLE)
    _record("postgres_idle_restart_to_new_file_loaded_s", time.monotonic() - back)


def test_postgres_restart_with_a_run_in_flight(
    platform: Topology,
    instance: DagsterInstance,
    old_data: dict[str, Stats],
    postgres_server: PostgresServer,
) -> None:
    day, old = PG_BUSY, old_data[PG_BUSY.date]
    run, _, new = _reload_mid_write(platform, instance, day.date)

    back, back_wall = _restart_postgres(postgres_server)
    eventually(lambda: _everything_serves(platform, back_wall), RECOVERY_S, "every process")
    _record("postgres_busy_restart_to_all_serving_s", time.monotonic() - back)

    done = eventually(lambda: _finished(instance, run.run_id), 240, "the in-flight run's verdict")
    assert isinstance(done, DagsterRun)
    _record("postgres_busy_restart_to_run_verdict_s", time.monotonic() - back)
    print(f"[faults] run in flight during the restart: {done.status.value}")
    _assert_old_or_new(platform, day.date, old, new)
    if done.status != DagsterRunStatus.SUCCESS:
        _await_retry_success(instance, done, 300)
        _record("postgres_busy_restart_to_retry_success_s", time.monotonic() - back)
    assert _stats(platform, day.date) == new
    # The cascade the reload started settles too: no run is left stuck.
    eventually(
        lambda: all(r.is_finished for r in instance.get_runs()), 240, "no run left in flight"
    )
