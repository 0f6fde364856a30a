"""PostgreSQL instance storage whose processes keep their connections open.

Outside the webserver, dagster-postgres opens and closes a connection around every
statement. A new connection costs a backend fork and password authentication, about
8 ms on loopback against 0.1 ms for the statement, and a run writes several statements
per event: a ranged run of 365 partitions spent most of its time connecting. Here each
of the three storages keeps one connection per process (more are opened, and closed
again, while threads need them at once), checked before use so that a restarted server
costs a reconnect rather than an error.

The event log also writes the per-partition events of a ranged run (planned,
materialization, planned check rows) with one statement per batch, where the stock
storage writes some of them one by one or recompiles a statement per batch. The rows
are the ones the stock paths write (``tests/test_instance.py`` compares them).

The Dagster internals this relies on are named, and the tested versions listed, in
``platform_instance.dagster_private``; another version is refused at start-up.

Configured in ``dagster.yaml`` as ``storage: custom:`` with this class and the same
``postgres_db`` block as ``storage: postgres:``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from dagster import DagsterEventType, EventLogEntry, serialize_value
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from platform_instance.dagster_private import (
    AssetCheckEvaluationPlanned,
    AssetCheckExecutionRecordStatus,
    AssetCheckExecutionsTable,
    ConfigurableClassData,
    DagsterStorage,
    SqlEventLogStorageTable,
    require_tested_dagster,
)

if TYPE_CHECKING:
    from dagster_postgres.auth import PgTokenProvider

# Idle connections a process keeps per storage. Connections in use at once are not
# limited (no thread ever waits for one); those beyond this are closed when returned.
KEPT_CONNECTIONS = 1
# Reconnect now and then so that server-side memory of long-lived backends is returned.
RECYCLE_SECONDS = 3600

# Value of DAGSTER_EVENT_BATCH_SIZE for every process that creates or executes runs (set
# by the images and the local stack). A run over a partition range records one planned
# and one materialization event per partition; with batching on, each set reaches the
# storage as one batch, written below with one executemany instead of a round of
# statements per event. Above the largest range a run takes (366 days x 3 regions), so a
# range is always a single batch.
EVENT_BATCH_SIZE = 1200

# Asset events a batch writes with one executemany (see store_event_batch below).
_WRITTEN_TOGETHER = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_OBSERVATION,
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
}


class _Pooled:
    """Mixin before a dagster-postgres storage: swaps its connect-per-statement engine for
    a pooled one, and closes the pool with the storage."""

    postgres_url: str
    _engine: Any
    _token_provider: PgTokenProvider | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unpooled = self._engine
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=KEPT_CONNECTIONS,
            max_overflow=-1,
            pool_pre_ping=True,
            pool_recycle=RECYCLE_SECONDS,
        )
        unpooled.dispose()

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]  # the storage class that follows in the MRO
        self._engine.dispose()


class PooledRunStorage(_Pooled, PostgresRunStorage):
    pass


class PooledEventLogStorage(_Pooled, PostgresEventLogStorage):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tables_seen: set[str] = set()

    def has_table(self, table_name: str) -> bool:
        # Asked once per stored asset event (about 10 ms of schema reflection each).
        # Tables appear with migrations and are never dropped under a running process,
        # so a table once seen is remembered; a missing one is looked up again.
        if table_name not in self._tables_seen and super().has_table(table_name):
            self._tables_seen.add(table_name)
        return table_name in self._tables_seen

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        # dagster-postgres writes a batch of materializations or observations as one
        # INSERT whose VALUES clause SQLAlchemy compiles afresh for every length (0.3 s
        # for 1,095 rows), and planned events one by one (a third of a year's range run).
        # Here all three are one executemany of a statement compiled once, and leave the
        # same rows and asset index as the stock paths. Consecutive events keep their
        # order; other kinds take the stock path.
        for event_type, group in itertools.groupby(
            events, key=lambda event: event.dagster_event_type
        ):
            if event_type in _WRITTEN_TOGETHER:
                self._store_together(list(group))
            else:
                super().store_event_batch(list(group))

    def _store_together(self, events: list[EventLogEntry]) -> None:
        table = SqlEventLogStorageTable
        insert = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        with self._connect() as conn:
            rows = conn.execute(insert, [self._event_to_row(event) for event in events])
            event_ids = [int(row[0]) for row in rows]
        # The asset index keeps one row per asset key, and each event overwrites it.
        last_per_key = {
            event.get_dagster_event().asset_key: (event, event_id)
            for event, event_id in zip(events, event_ids, strict=True)
        }
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in last_per_key.values():
                self._store_asset_event(conn, event, event_id)

    def _store_asset_check_evaluation_planned(
        self, event: EventLogEntry, event_id: int | None
    ) -> None:
        # A check planned over a range gets one execution row per partition. Stock Dagster
        # serializes the event again for every row and compiles one VALUES clause of them
        # all (half a second for a year of two checks); the rows are the same either way.
        planned = event.get_dagster_event().event_specific_data
        assert isinstance(planned, AssetCheckEvaluationPlanned)
        subset = planned.partitions_subset
        partition_keys = subset.get_partition_keys() if subset else [None]
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:
            conn.execute(
                AssetCheckExecutionsTable.insert(),
                [{**row, "partition": key} for key in partition_keys],
            )

    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool:
        # Called when a step finds no limit row for its pool. When two processes do so at
        # once (two runs starting together on a fresh database), both INSERT it; the loser
        # falls back to an UPDATE inside the transaction its failed INSERT aborted, and
        # stock dagster-postgres fails the step. The row it wanted exists by then.
        try:
            return super().initialize_concurrency_limit_to_default(concurrency_key)
        except DBAPIError:
            if concurrency_key not in self.get_concurrency_keys():
                raise
            return True

    def _reconcile_concurrency_limits_from_slots(self) -> None:
        # Two processes that first use a pool at the same moment (a fresh database, two
        # runs starting together) can both find its slots without a limit row and both
        # insert one. The loser's unique-key error means the row it wanted exists (its
        # transaction is rolled back); stock dagster-postgres fails the run's step instead.
        with suppress(IntegrityError):
            super()._reconcile_concurrency_limits_from_slots()


class PooledScheduleStorage(_Pooled, PostgresScheduleStorage):
    pass


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose three storages each keep a connection."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: PgTokenProvider | None = None,
    ) -> None:
        require_tested_dagster()
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PooledRunStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._event_log_storage = PooledEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._schedule_storage = PooledScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
