"""The pandas IO manager of this location: small tables as DataFrames, stored in the warehouse.

It is ``DuckDBPandasIOManager`` (schema = key prefix, table = last key part) with its
database client replaced: connections come from :class:`WarehouseResource`, so a write is
one transaction and every connection is closed when the load or store ends, even on
error. The stock client deletes the old rows and inserts the new ones in two autocommit
statements (a failure in between leaves an empty table), leaves its connection open
when a statement fails, and names the table after the database file's path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster import InputContext, OutputContext
from dagster._core.storage.db_io_manager import DbIOManager, TableSlice
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager

from platform_shared.resources import WarehouseResource
from platform_shared.settings import env


class _WarehouseClient(DuckDbClient):
    @staticmethod
    @contextmanager
    def connect(
        context: OutputContext | InputContext, _: TableSlice
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        config: Mapping[str, Any] = context.resource_config or {}
        warehouse = WarehouseResource(
            database=str(config["database"]),
            connection_config=dict(config.get("connection_config") or {}),
        )
        with warehouse.transaction() as conn:
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


class WarehousePandasIOManager(DuckDBPandasIOManager):
    """Loads and stores pandas DataFrames as warehouse tables, one transaction per store."""

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            type_handlers=self.type_handlers(),
            db_client=_WarehouseClient(),
            database=self.database,
            schema=self.schema_,
            default_load_type=self.default_load_type(),
            io_manager_name="WarehousePandasIOManager",
        )


def warehouse_io_manager() -> WarehousePandasIOManager:
    return WarehousePandasIOManager(database=env("WAREHOUSE_PATH"))
