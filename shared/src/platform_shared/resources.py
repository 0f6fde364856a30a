"""Resources shared by every location, configured from :mod:`platform_shared.settings`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_shared.settings import env

# Every op that opens the warehouse for writing claims a slot of this Dagster pool. The
# instance gives it one slot, so writers from different locations queue instead of
# colliding on DuckDB's single-writer file lock.
WAREHOUSE_POOL = "warehouse"
# The catalog name the warehouse file is attached under in every connection.
CATALOG = "warehouse"


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse, one schema per location.

    Connections are short-lived: open one per unit of work so the file lock is held only
    while a write happens. Opening retries with backoff when another process holds the
    lock (the pool makes that rare; tests and ad-hoc runs outside the pool rely on it).
    """

    lock_timeout_seconds: float = Field(
        default=120.0, description="How long to wait for another process's file lock."
    )
    memory_limit: str | None = Field(
        default=None,
        description=(
            "DuckDB memory_limit of each connection (e.g. '1GB'); beyond it work spills to "
            "a temporary folder beside the warehouse file. None: DuckDB's default, 80% of RAM."
        ),
    )

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                conn = self._connect()
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield conn
        finally:
            # The parent class closes only on success; a failed write must not keep the
            # file locked until garbage collection.
            conn.close()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        config = dict(self.connection_config)
        if self.memory_limit:
            # Without a limit DuckDB keeps pages cached up to 80% of RAM, in every run.
            config.setdefault("memory_limit", self.memory_limit)
            if self.database != ":memory:":
                # The main database is in memory: name a spill folder on the warehouse's disk.
                config.setdefault("temp_directory", f"{self.database}.tmp")
        if self.database == ":memory:":
            return duckdb.connect(self.database, config=config)
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        # DuckDB names a file's catalog after the file: `analytics.duckdb` would make
        # `analytics.x` ambiguous between that catalog and the analytics schema. Attach it
        # under a neutral name instead.
        conn = duckdb.connect(":memory:", config=config)
        try:
            quoted = self.database.replace("'", "''")
            conn.execute(f"ATTACH '{quoted}' AS {CATALOG}")
            conn.execute(f"USE {CATALOG}")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside ``BEGIN`` … ``COMMIT``; any exception rolls back."""
        with self.get_connection() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


class LandingZone(ConfigurableResource):
    """The folder feeds deliver files into (``LANDING_DIR``)."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class ExportFolder(ConfigurableResource):
    """Where analytics publishes files for people and other tools (``EXPORT_DIR``)."""

    root: str

    def path_for(self, name: str) -> Path:
        folder = Path(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name


def warehouse() -> WarehouseResource:
    return WarehouseResource(
        database=env("WAREHOUSE_PATH"), memory_limit=env("WAREHOUSE_MEMORY_LIMIT")
    )


def landing_zone() -> LandingZone:
    return LandingZone(root=env("LANDING_DIR"))


def export_folder() -> ExportFolder:
    return ExportFolder(root=env("EXPORT_DIR"))
