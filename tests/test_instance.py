"""The repository's dagster.yaml against a real PostgreSQL server."""

from __future__ import annotations

import inspect
from functools import partial
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    EventLogEntry,
    MaterializeResult,
    PartitionKeyRange,
    asset,
    materialize,
)
from dagster._core.test_utils import environ
from dagster_postgres import PostgresEventLogStorage
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError

from platform_instance.storage import (
    EVENT_BATCH_SIZE,
    PooledEventLogStorage,
    PooledRunStorage,
    PooledScheduleStorage,
)
from platform_shared.cross_location import range_tags
from platform_stack.instance import prepare_home

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_instance(tmp_path: Path, postgres_env: dict[str, str], pytestconfig: pytest.Config):
    home = tmp_path / "home"
    kind = prepare_home(home, pytestconfig.rootpath / "dagster.yaml", postgres_env)
    assert kind == "postgres"
    with environ({**postgres_env, "DAGSTER_HOME": str(home)}):
        instance = DagsterInstance.get()
        try:
            yield instance
        finally:
            instance.dispose()


def test_instance_settings_come_from_dagster_yaml(pg_instance: DagsterInstance) -> None:
    assert isinstance(pg_instance.run_storage, PooledRunStorage)
    assert isinstance(pg_instance.event_log_storage, PooledEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PooledScheduleStorage)
    assert pg_instance.run_monitoring_enabled
    assert pg_instance.run_monitoring_max_runtime_seconds == 7200
    assert pg_instance.run_retries_enabled
    assert pg_instance.run_retries_max_retries == 1
    assert not pg_instance.telemetry_enabled
    queue = pg_instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 6
    pools = pg_instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1
    assert pools.pool_granularity is not None
    assert pools.pool_granularity.value == "op"


def test_runs_and_events_are_stored_in_postgres(pg_instance, postgres_query) -> None:
    @asset(pool="warehouse")
    def numbers() -> list[int]:
        return [1, 2, 3]

    result = materialize([numbers], instance=pg_instance)
    assert result.success
    rows = postgres_query("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
    assert rows == [("SUCCESS",)]
    events = postgres_query(
        "SELECT dagster_event_type FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        (result.run_id,),
    )
    assert len(events) == 1
    # The warehouse pool got its one slot from `pools.default_limit`.
    info = pg_instance.event_log_storage.get_concurrency_info("warehouse")
    assert info.slot_count == 1


def _count_connects(instance: DagsterInstance) -> list[object]:
    """A list that grows by one each time a storage of ``instance`` opens a connection."""
    opened: list[object] = []
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        engine = storage._engine  # type: ignore[attr-defined]
        event.listen(engine, "connect", lambda conn, record: opened.append(conn))
    return opened


def test_storage_reuses_its_connections(pg_instance: DagsterInstance) -> None:
    opened = _count_connects(pg_instance)

    @asset
    def one() -> int:
        return 1

    run_ids = []
    for _ in range(3):
        result = materialize([one], instance=pg_instance)
        assert result.success
        run_ids.append(result.run_id)
    events = sum(len(pg_instance.all_logs(run_id)) for run_id in run_ids)

    # Unpooled, every event write and run update opens a connection of its own; pooled, a
    # few are opened while threads (the run's event watcher) need them at once.
    assert events >= 30
    assert len(opened) <= 10


def test_storage_reconnects_after_its_connections_are_killed(
    pg_instance: DagsterInstance, postgres_query, postgres_env: dict[str, str]
) -> None:
    before = pg_instance.get_runs(limit=1)
    opened = _count_connects(pg_instance)
    killed = postgres_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (postgres_env["DAGSTER_POSTGRES_DB"],),
    )
    assert killed, "the instance held no connection to kill"

    # As after a server restart: the dead connection is replaced, not raised.
    assert pg_instance.get_runs(limit=1) == before
    assert len(opened) == 1


def test_event_log_remembers_the_tables_it_has_seen(
    pg_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = pg_instance.event_log_storage
    assert isinstance(storage, PooledEventLogStorage)
    looked_up: list[str] = []
    dialect = storage._engine.dialect
    reflect = dialect.has_table
    monkeypatch.setattr(
        dialect, "has_table", lambda conn, name, **kw: looked_up.append(name) or reflect(conn, name)
    )

    # Asked once per stored asset event: reflected the first time only.
    assert [storage.has_table("asset_event_tags") for _ in range(3)] == [True] * 3
    # A table that does not exist yet (e.g. before a migration) is looked up every time.
    assert [storage.has_table("not_created_yet") for _ in range(2)] == [False] * 2
    assert looked_up == ["asset_event_tags", "not_created_yet", "not_created_yet"]


def test_a_range_run_writes_its_partition_events_in_one_batch(
    pg_instance: DagsterInstance, postgres_query, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-06")

    @asset(partitions_def=days, backfill_policy=BackfillPolicy.single_run())
    def daily(context) -> MaterializeResult:  # a string annotation would not resolve here
        return MaterializeResult(metadata={"days": len(context.partition_keys)})

    storage = pg_instance.event_log_storage
    batches: list[tuple[int, DagsterEventType | None]] = []
    store_batch = storage.store_event_batch

    def recording(events: list[EventLogEntry]) -> None:
        batches.append((len(events), events[0].dagster_event_type))
        store_batch(events)

    monkeypatch.setattr(storage, "store_event_batch", recording)
    # What the images and the local stack set for every process that creates or runs runs.
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))

    result = materialize(
        [daily],
        instance=pg_instance,
        tags=range_tags(PartitionKeyRange("2025-01-01", "2025-01-05")),
    )

    assert result.success
    # The planned events when the run is created, the materializations when it ends.
    assert batches == [
        (5, DagsterEventType.ASSET_MATERIALIZATION_PLANNED),
        (5, DagsterEventType.ASSET_MATERIALIZATION),
    ]
    rows = postgres_query(
        "SELECT partition FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY id",
        (result.run_id,),
    )
    assert [r[0] for r in rows] == [f"2025-01-0{d}" for d in range(1, 6)]


def test_planned_events_of_a_range_are_one_insert_with_the_rows_of_the_stock_path(
    pg_instance: DagsterInstance, postgres_query, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-06")

    @asset(
        partitions_def=days,
        backfill_policy=BackfillPolicy.single_run(),
        check_specs=[AssetCheckSpec("has_days", asset="planned_first")],
    )
    def planned_first(context) -> MaterializeResult:
        days = len(context.partition_keys)
        return MaterializeResult(
            metadata={"days": days},
            check_results=[AssetCheckResult(check_name="has_days", passed=days > 0)],
        )

    @asset(partitions_def=days, backfill_policy=BackfillPolicy.single_run(), deps=[planned_first])
    def planned_second(context) -> MaterializeResult:
        return MaterializeResult(metadata={"days": len(context.partition_keys)})

    storage = pg_instance.event_log_storage
    assert isinstance(storage, PooledEventLogStorage)
    statements: list[str] = []
    event.listen(
        storage._engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    keys = [planned_first.key, planned_second.key]

    def run() -> tuple[str, int]:
        statements.clear()
        result = materialize(
            [planned_first, planned_second],
            instance=pg_instance,
            tags=range_tags(PartitionKeyRange("2025-01-01", "2025-01-05")),
        )
        assert result.success
        for record in pg_instance.get_asset_records(keys):
            assert record.asset_entry.last_run_id == result.run_id
        for key in keys:
            for day in days.get_partition_keys()[:5]:
                info = storage.get_latest_planned_materialization_info(key, day)
                assert info is not None
                assert info.run_id == result.run_id
        inserts = sum(s.lstrip().startswith("INSERT INTO event_logs") for s in statements)
        return result.run_id, inserts

    def stored(run_id: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
        rows = postgres_query(
            "SELECT dagster_event_type, asset_key, partition FROM event_logs "
            "WHERE run_id = %s ORDER BY id",
            (run_id,),
        )
        # Values differ from run to run (data versions derive from the run id): keys only.
        tags = postgres_query(
            "SELECT e.dagster_event_type, t.key FROM asset_event_tags t "
            "JOIN event_logs e ON e.id = t.event_id WHERE e.run_id = %s ORDER BY t.id",
            (run_id,),
        )
        checks = postgres_query(
            "SELECT asset_key, check_name, partition, execution_status FROM "
            "asset_check_executions WHERE run_id = %s ORDER BY id",
            (run_id,),
        )
        return rows, tags, checks

    with monkeypatch.context() as stock:
        stock.setattr(
            storage,
            "store_event_batch",
            partial(PostgresEventLogStorage.store_event_batch, storage),
        )
        stock.setattr(
            storage,
            "_store_asset_check_evaluation_planned",
            partial(PostgresEventLogStorage._store_asset_check_evaluation_planned, storage),
        )
        stock_run, stock_inserts = run()
    run_id, inserts = run()

    # The ten planned events (5 days x 2 assets) take one INSERT instead of ten ...
    assert stock_inserts - inserts == 9
    # ... and leave the same rows, in the same order, as dagster-postgres's own path.
    assert stored(run_id) == stored(stock_run)
    rows, _, checks = stored(run_id)
    planned = [r for r in rows if r[0] == "ASSET_MATERIALIZATION_PLANNED"]
    assert len(planned) == 10
    assert {r[2] for r in planned} == set(days.get_partition_keys()[:5])
    # The check's planned rows, one per partition of the range (its evaluation, for the
    # whole range, is a row of its own).
    assert [c[2] for c in checks if c[3] == "PLANNED"] == days.get_partition_keys()[:5]


def test_a_batch_longer_than_an_insert_page_keeps_events_and_ids_in_order(
    pg_instance: DagsterInstance, postgres_query, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLAlchemy sends an executemany in pages of 1,000 rows; the returned ids must
    # still pair up with the events, in order, or the asset index points at a wrong one.
    days = DailyPartitionsDefinition(start_date="2022-01-01", end_date="2025-01-01")
    keys = days.get_partition_keys()[:1001]

    @asset(partitions_def=days, backfill_policy=BackfillPolicy.single_run())
    def paged(context) -> MaterializeResult:
        return MaterializeResult(metadata={"days": len(context.partition_keys)})

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    result = materialize(
        [paged], instance=pg_instance, tags=range_tags(PartitionKeyRange(keys[0], keys[-1]))
    )

    assert result.success
    for event_type in ("ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION"):
        rows = postgres_query(
            "SELECT id, partition FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type = %s ORDER BY id",
            (result.run_id, event_type),
        )
        assert [r[1] for r in rows] == keys
    last = pg_instance.get_asset_records([paged.key])[0].asset_entry.last_materialization_record
    assert last is not None
    assert last.storage_id == rows[-1][0]
    assert last.partition_key == keys[-1]


def test_two_processes_first_using_a_pool_at_once_do_not_fail(
    pg_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = pg_instance.event_log_storage
    assert isinstance(storage, PooledEventLogStorage)
    storage.set_concurrency_slots("raced", 1)  # the slots and their limit row
    # What the slower of two processes saw a moment earlier: slots, no limit row yet.
    monkeypatch.setattr(storage, "_has_rows", lambda table: table.name == "concurrency_slots")

    with pytest.raises(IntegrityError):  # stock dagster-postgres: the step fails
        PostgresEventLogStorage._reconcile_concurrency_limits_from_slots(storage)
    storage._reconcile_concurrency_limits_from_slots()

    assert storage.get_concurrency_info("raced").slot_count == 1


def test_two_steps_creating_a_pool_limit_at_once_do_not_fail(
    pg_instance: DagsterInstance,
) -> None:
    storage = pg_instance.event_log_storage
    assert isinstance(storage, PooledEventLogStorage)
    # The faster process created the pool's limit row from the default (pools.default_limit).
    assert storage.initialize_concurrency_limit_to_default("contended")

    # The slower one, which had found no row, inserts it too.
    with pytest.raises(DBAPIError):  # stock dagster-postgres: the step fails
        PostgresEventLogStorage.initialize_concurrency_limit_to_default(storage, "contended")
    assert storage.initialize_concurrency_limit_to_default("contended")

    assert storage.get_concurrency_info("contended").slot_count == 1


def test_the_postgres_internals_the_storage_relies_on_are_there() -> None:
    """The overridden and called methods keep their names and parameters."""
    from platform_instance.dagster_private import CALLED, OVERRIDDEN

    for name, parameters in {**OVERRIDDEN, **CALLED}.items():
        method = getattr(PostgresEventLogStorage, name, None)
        assert method is not None, f"PostgresEventLogStorage.{name} is gone"
        assert tuple(inspect.signature(method).parameters)[1:] == parameters, name
    # The pooled classes override exactly what the fence lists, nothing unlisted.
    own = {n for n, v in vars(PooledEventLogStorage).items() if inspect.isfunction(v)}
    assert own - {"__init__", "_store_together"} == set(OVERRIDDEN)


def test_an_untested_dagster_version_is_refused_at_start_up() -> None:
    import dagster

    from platform_instance.dagster_private import (
        TESTED_DAGSTER_VERSIONS,
        UntestedDagsterVersion,
        require_tested_dagster,
    )

    assert dagster.__version__ in TESTED_DAGSTER_VERSIONS
    require_tested_dagster()
    with pytest.raises(UntestedDagsterVersion, match=r"make upgrade-dagster VERSION=9\.0\.0"):
        require_tested_dagster("9.0.0")
