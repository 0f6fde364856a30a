"""Resources shared by every location, configured from :mod:`platform_shared.settings`."""

from __future__ import annotations

import mimetypes
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from platform_shared.lake import (
    CATALOG,
    Catalog,
    WarehouseConflictError,
    attach,
    committed_snapshot,
    is_transient,
)
from platform_shared.settings import env
from platform_shared.storage import Store, store
from platform_shared.validation import checked_name

T = TypeVar("T")

__all__ = ["CATALOG", "Committed", "Exports", "LandingZone", "WarehouseResource"]


@dataclass(frozen=True)
class Committed(Generic[T]):
    """What a unit of work returned, and the lake snapshot its commit created."""

    value: T
    snapshot_id: int | None
    attempts: int


# Attaching the lake loads two extensions and reads the catalog, about 0.3 s: paid by
# every connection, it was most of a small run's time. So each process attaches a lake
# once, in an in-memory DuckDB kept here, and hands out connections to it (cursors, each
# with its own transactions, temporary tables and last committed snapshot).
_ATTACHED: dict[tuple[object, ...], duckdb.DuckDBPyConnection] = {}
_ATTACHED_LOCK = threading.Lock()


class WarehouseResource(ConfigurableResource):
    """The warehouse: a DuckLake with one schema per location.

    Each connection is a connection to an in-memory DuckDB with the lake attached as
    ``warehouse``, its default catalog, attached once per process. Open one per unit of
    work: many processes read and write the lake at once, and a reader sees the last
    snapshot committed when its transaction began.
    Writes go through :meth:`write`, which retries a unit of work that lost a commit race
    against another writer.
    """

    catalog: str = Field(description="'sqlite:<file>' or 'postgres:<libpq keywords>'.")
    data_path: str = Field(default="", description="Folder or URL of the Parquet files.")
    read_only: bool = Field(default=False, description="Attach the lake read-only.")
    memory_limit: str | None = Field(
        default=None,
        description=(
            "DuckDB memory_limit of each connection (e.g. '1GB'); beyond it work spills to "
            "a temporary folder. None: DuckDB's default, 80% of RAM."
        ),
    )
    conflict_attempts: int = Field(
        default=8, description="How many times a write is tried while it conflicts."
    )
    conflict_budget_seconds: float = Field(
        default=120.0, description="How long a write may keep retrying its conflicts."
    )

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = self._connect()
        try:
            yield conn
        except BaseException as exc:
            if is_transient(exc):
                # The catalog may have gone away under the attachment: the next
                # connection attaches afresh instead of reusing it.
                self._forget()
            raise
        finally:
            conn.close()

    def _key(self) -> tuple[object, ...]:
        # By process too: a forked child must not share its parent's database.
        return (os.getpid(), self.catalog, self.data_path, self.read_only, self.memory_limit)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A new connection (a cursor) of this process's database with the lake attached."""
        key = self._key()
        with _ATTACHED_LOCK:
            database = _ATTACHED.get(key)
            if database is None:
                database = _ATTACHED[key] = self._attach()
        conn = database.cursor()
        conn.execute(f"USE {CATALOG}")
        return conn

    def _forget(self) -> None:
        with _ATTACHED_LOCK:
            # Connections still open keep the database alive until they close.
            _ATTACHED.pop(self._key(), None)

    def _attach(self) -> duckdb.DuckDBPyConnection:
        config: dict[str, str | bool | int | float | list[str]] = {
            # Nothing is fetched at run time: the extensions come from installed wheels.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if self.memory_limit:
            # Without a limit DuckDB keeps pages cached up to 80% of RAM, in every run.
            config["memory_limit"] = self.memory_limit
            config["temp_directory"] = str(Path(tempfile.gettempdir()) / "warehouse-spill")
        catalog = Catalog.parse(self.catalog)
        conn = duckdb.connect(":memory:", config=config)
        try:
            # Two processes attaching a catalog that does not exist yet race to create its
            # tables; the loser tries again and finds them.
            self._retrying("attach the warehouse")(
                attach, conn, catalog, self.data_path, read_only=self.read_only
            )
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside ``BEGIN`` … ``COMMIT``; any exception rolls back.

        One attempt: a commit conflict raises. Writers use :meth:`write`.
        """
        with self.get_connection() as conn, _in_transaction(conn):
            yield conn

    def write(self, unit: Callable[[duckdb.DuckDBPyConnection], T], *, what: str) -> Committed[T]:
        """Run ``unit`` in one transaction and commit it, all again on a commit conflict.

        Another writer that committed first to the same table (a partition replace
        overlapping this one's files, a table created at the same moment) makes this
        commit fail as a whole, with nothing written: the unit runs once more on a fresh
        connection, after a randomised, growing pause. ``what`` names the table and
        partitions for the error raised once the budget is spent.
        """
        attempts = 0

        def once() -> tuple[T, int | None]:
            nonlocal attempts
            attempts += 1
            with self.get_connection() as conn:
                with _in_transaction(conn):
                    value = unit(conn)
                # The id lives on this connection's attached lake: read it before closing.
                return value, committed_snapshot(conn)

        value, snapshot = self.retry(once, what=what)
        return Committed(value, snapshot, attempts)

    def retry(self, work: Callable[[], T], *, what: str) -> T:
        """``work`` (which opens its own connections), again while it fails transiently:
        a commit conflict, a locked or restarting catalog."""
        return self._retrying(what)(work)

    def _retrying(self, what: str) -> Callable[..., Any]:
        def report(state: RetryCallState) -> None:
            # In a step, Dagster's logger puts this in the run's event log: a run that
            # keeps retrying shows why it is slow.
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            get_dagster_logger().warning(
                f"{what}: attempt {state.attempt_number} did not commit ({error}); "
                f"trying again in {wait:.1f} s"
            )

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.conflict_attempts)
            | stop_after_delay(self.conflict_budget_seconds),
            wait=wait_random_exponential(multiplier=0.1, max=5.0),
            before_sleep=report,
        )

        def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return retrying(fn, *args, **kwargs)
            except RetryError as exc:
                last = exc.last_attempt.exception()
                raise WarehouseConflictError(
                    f"{what}: still failing after {exc.last_attempt.attempt_number} attempts "
                    f"(other writers' commits, or the catalog or object store away): {last}"
                ) from last

        return call


@contextmanager
def _in_transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        # A connection whose catalog went away cannot roll back; it is discarded anyway,
        # and the error that matters (and decides about a retry) is the first one.
        with suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class LandingZone(ConfigurableResource):
    """Where feeds deliver files (``LANDING_URL``): a folder or ``s3://bucket/prefix``."""

    root: str

    @property
    def store(self) -> Store:
        return store(self.root)


class Exports(ConfigurableResource):
    """Where analytics publishes files for people and other tools (``EXPORT_URL``): a
    folder or ``s3://bucket/prefix``."""

    root: str
    link_base: str = Field(
        default="",
        description="Base URL of the published files for people (EXPORT_LINK_BASE); empty: "
        "the store's own links (file:// for a folder, signed URLs for a bucket).",
    )

    @property
    def store(self) -> Store:
        return store(self.root)

    @contextmanager
    def staged(self, name: str) -> Iterator[Path]:
        """A local scratch file that is published as ``name`` only if the block succeeds.

        People and tools read the exports at any time: they find the previous file or the
        new one, never a partial write or one whose table write rolled back."""
        target = self.store
        target.check(name)
        with tempfile.TemporaryDirectory(prefix="export-") as scratch:
            staging = Path(scratch) / Path(name).name
            yield staging
            target.put_file(name, staging, mimetypes.guess_type(name)[0])

    def reference(self, name: str) -> str:
        """The published file as a path or ``s3://`` URL."""
        return self.store.reference(name)

    def link(self, name: str) -> str:
        """A URL at which a person opens the published file."""
        if self.link_base:
            return f"{self.link_base.rstrip('/')}/{checked_name(name)}"
        return self.store.link(name)


def warehouse() -> WarehouseResource:
    return WarehouseResource(
        catalog=env("WAREHOUSE_CATALOG"),
        data_path=env("WAREHOUSE_DATA_PATH"),
        memory_limit=env("WAREHOUSE_MEMORY_LIMIT"),
    )


def landing_zone() -> LandingZone:
    return LandingZone(root=env("LANDING_URL"))


def exports() -> Exports:
    return Exports(root=env("EXPORT_URL"), link_base=env("EXPORT_LINK_BASE"))
