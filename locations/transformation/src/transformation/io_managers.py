"""The pandas IO manager of this location: small tables as DataFrames, stored in the warehouse.

It is ``DuckDBPandasIOManager`` (schema = key prefix, table = last key part) with two
changes. Pandas is imported when the IO manager is first used, not when the location is
loaded: it is a third of the location's import time, which the code server and every run
that writes no DataFrame would pay. And its database client is replaced: connections come
from :class:`WarehouseResource`, so a write is one transaction and every connection is
closed when the load or store ends, even on error. The stock client deletes the old rows
and inserts the new ones in two autocommit statements (a failure in between leaves an
empty table), leaves its connection open when a statement fails, and names the table
after the database file's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import duckdb
from dagster import InputContext, IOManager, OutputContext
from dagster_duckdb.io_manager import DuckDbClient, DuckDBIOManager

from platform_shared.dagster_private import DbIOManager, DbTypeHandler, TableSlice
from platform_shared.resources import CATALOG, WarehouseResource, warehouse


class _WarehouseClient(DuckDbClient):
    def __init__(self, warehouse: WarehouseResource) -> None:
        self._warehouse = warehouse

    @contextmanager
    def connect(  # type: ignore[override]
        self, context: OutputContext | InputContext, _: TableSlice
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._warehouse.transaction() as conn:
            yield conn

    @staticmethod
    def get_table_name(table_slice: TableSlice) -> str:
        # The stock name starts with the database, here a file path of the machine.
        return f"{table_slice.schema}.{table_slice.table}"

    @staticmethod
    def delete_table_slice(
        context: OutputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> None:
        # The stock client attempts the DELETE and swallows "no such table"; inside a
        # transaction that error aborts the transaction, so look the table up first.
        exists = connection.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = ? AND table_name = ?",
            [table_slice.schema, table_slice.table],
        ).fetchone()
        if exists and exists[0]:
            DuckDbClient.delete_table_slice(context, table_slice, connection)


class _HeldMetadata:
    """An output context that keeps back the metadata a store adds.

    Dagster refuses metadata added twice for one output, and a store whose commit lost a
    race runs again whole; so each attempt's metadata is held here and only the committed
    attempt's reaches the real context.
    """

    def __init__(self, context: OutputContext) -> None:
        self._context = context
        self.metadata: dict[str, Any] = {}

    def add_output_metadata(self, metadata: Mapping[str, Any]) -> None:
        self.metadata.update(metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class _BuiltOnFirstUse(IOManager):
    """The IO manager ``build`` returns, built when a value is first stored or loaded.

    Dagster initialises the IO manager for every run of the location, also for runs whose
    assets write SQL and return only metadata: those never call it, and never import pandas.
    A store is one transaction; one that conflicts with another writer runs again whole.
    """

    def __init__(self, build: Callable[[], DbIOManager], warehouse: WarehouseResource) -> None:
        self._build = build
        self._warehouse = warehouse
        self._manager: DbIOManager | None = None

    def _get(self) -> DbIOManager:
        if self._manager is None:
            self._manager = self._build()
        return self._manager

    def handle_output(self, context: OutputContext, obj: object) -> None:
        table = "/".join(context.asset_key.path)

        def attempt() -> dict[str, Any]:
            held = _HeldMetadata(context)
            self._get().handle_output(cast(OutputContext, held), obj)
            return held.metadata

        metadata = self._warehouse.retry(attempt, what=table)
        if metadata:
            context.add_output_metadata(metadata)

    def load_input(self, context: InputContext) -> object:
        return self._get().load_input(context)


class WarehousePandasIOManager(DuckDBIOManager):
    """Loads and stores pandas DataFrames as warehouse tables, one transaction per store.

    ``database`` is only the lake's catalog name here; where the lake is comes from
    ``warehouse``, the same resource the location's SQL assets use.
    """

    warehouse: WarehouseResource
    database: str = CATALOG

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        from dagster_duckdb_pandas import DuckDBPandasTypeHandler

        return [DuckDBPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type:
        import pandas as pd

        return pd.DataFrame

    def create_io_manager(self, context) -> IOManager:  # type: ignore[override]
        return _BuiltOnFirstUse(
            lambda: DbIOManager(
                type_handlers=self.type_handlers(),
                db_client=_WarehouseClient(self.warehouse),
                database=self.database,
                schema=self.schema_,
                default_load_type=self.default_load_type(),
                io_manager_name="WarehousePandasIOManager",
            ),
            self.warehouse,
        )


def warehouse_io_manager() -> WarehousePandasIOManager:
    return WarehousePandasIOManager(warehouse=warehouse())
