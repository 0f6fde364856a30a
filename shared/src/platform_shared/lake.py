"""The warehouse as a DuckLake: where its catalog is, how a connection attaches it, and
which errors are commit conflicts worth another attempt.

DuckLake keeps table metadata in a catalog database and table data as Parquet files under
a data path, so any number of DuckDB processes, on any number of machines, read and write
the same tables with snapshot isolation. The catalog is SQLite for one machine (a file,
no server) or PostgreSQL once several machines share the warehouse; the SQL the locations
run is the same on both.

Extensions are loaded from the files the ``duckdb-extension-*`` wheels install, by path:
DuckDB never downloads one at run time (auto-install is off) and nothing is written to a
home folder, which a container's non-root user may not have.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from platform_shared.settings import secret
from platform_shared.storage import duckdb_secret_sql, is_url, sql_quote

# The name the lake is attached under in every connection: the locations' SQL names
# tables as <schema>.<table> and never the catalog, and a neutral name cannot be mistaken
# for a schema (a catalog named `analytics` would make `analytics.x` ambiguous).
CATALOG = "warehouse"
# The DuckDB secret that carries the PostgreSQL catalog's password into the ATTACH.
_SECRET = "warehouse_catalog"  # noqa: S105 (a name, not a password)
# SQLite serialises writers on a file lock: wait for it a while before reporting it, and
# let readers go on beside a writer (WAL).
_SQLITE_BUSY_TIMEOUT_MS = 5000


class MissingExtensionError(RuntimeError):
    """A DuckDB extension the warehouse needs is not installed for this DuckDB release."""


class WarehouseConflictError(dg.RetryRequested):
    """A write kept conflicting with other writers (or kept losing its catalog) until its
    retry budget ran out.

    Raised inside an op, it asks Dagster to run the step once more after a pause, as a
    retry policy would; when that attempt fails too, the step fails with this message.
    """

    def __init__(self, message: str) -> None:
        super().__init__(max_retries=1, seconds_to_wait=30)
        self.args = (message,)


def extension_file(name: str) -> Path:
    """The extension binary that the ``duckdb-extension-<name>`` wheel installed."""
    package = "duckdb-extension-" + name.replace("_", "-")
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtensionError(
            f"the DuckDB extension {name!r} is not installed: install the package "
            f"{package}=={duckdb.__version__} (the root pyproject.toml pins it)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise MissingExtensionError(
            f"{package} has no build for DuckDB {duckdb.__version__} ({path} is missing): "
            f"install {package}=={duckdb.__version__}"
        )
    return path


@dataclass(frozen=True)
class Catalog:
    """Where the lake's metadata lives: ``sqlite:<file>`` or ``postgres:<libpq keywords>``.

    The PostgreSQL form names the database, host, port and user, never the password: it
    comes from ``WAREHOUSE_CATALOG_PASSWORD`` or the file ``WAREHOUSE_CATALOG_PASSWORD_FILE``
    names, and reaches DuckDB as a temporary secret of the connection.
    """

    kind: str
    target: str

    @classmethod
    def parse(cls, value: str) -> Catalog:
        kind, sep, target = value.partition(":")
        if not sep or kind not in ("sqlite", "postgres") or not target.strip():
            raise ValueError(
                f"warehouse catalog {value!r}: use 'sqlite:<file>' or "
                "'postgres:dbname=... host=... user=...'"
            )
        if kind == "postgres" and "password" in target.lower():
            raise ValueError(
                "the warehouse catalog must not hold a password: set "
                "WAREHOUSE_CATALOG_PASSWORD or WAREHOUSE_CATALOG_PASSWORD_FILE"
            )
        if kind == "sqlite":
            target = str(Path(target).absolute())
        return cls(kind, target)

    @property
    def extension(self) -> str:
        return "sqlite_scanner" if self.kind == "sqlite" else "postgres_scanner"


def enable_object_store(conn: duckdb.DuckDBPyConnection) -> None:
    """Let ``conn`` (and every cursor of its database) read and write ``s3://`` URLs with
    this process's ``AWS_*`` settings: ``httpfs`` from its wheel, and a temporary secret."""
    conn.execute(f"LOAD '{sql_quote(str(extension_file('httpfs')))}'")
    conn.execute(duckdb_secret_sql())


def attach(
    conn: duckdb.DuckDBPyConnection, catalog: Catalog, data_path: str, *, read_only: bool
) -> None:
    """Load the extensions and attach the lake as :data:`CATALOG`, the default catalog."""
    for name in ("ducklake", catalog.extension):
        conn.execute(f"LOAD '{sql_quote(str(extension_file(name)))}'")
    options = []
    if data_path:
        if is_url(data_path):
            enable_object_store(conn)
            data_path = data_path.rstrip("/") + "/"
        else:
            folder = Path(data_path).absolute()
            if not read_only:
                folder.mkdir(parents=True, exist_ok=True)
            # DuckLake joins file names onto the data path as text.
            data_path = str(folder) + os.sep
        options.append(f"DATA_PATH '{sql_quote(data_path)}'")
    if read_only:
        options.append("READ_ONLY")
    if catalog.kind == "sqlite":
        if not read_only:
            Path(catalog.target).parent.mkdir(parents=True, exist_ok=True)
        options += ["META_JOURNAL_MODE 'WAL'", f"META_BUSY_TIMEOUT {_SQLITE_BUSY_TIMEOUT_MS}"]
    else:
        password = secret("WAREHOUSE_CATALOG_PASSWORD")
        if password is not None:
            conn.execute(
                f"CREATE OR REPLACE TEMPORARY SECRET {_SECRET} "
                f"(TYPE postgres, PASSWORD '{sql_quote(password)}')"
            )
            options.append(f"META_SECRET '{_SECRET}'")
    target = sql_quote(f"ducklake:{catalog.kind}:{catalog.target}")
    statement = f"ATTACH '{target}' AS {CATALOG} ({', '.join(options)})"
    try:
        conn.execute(statement)
    except duckdb.Error as exc:
        # A reader names the catalog only; the lake it finds keeps its files in a bucket.
        if "requires the extension httpfs" not in str(exc):
            raise
        enable_object_store(conn)
        conn.execute(statement)
    conn.execute(f"USE {CATALOG}")


def committed_snapshot(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The id of the snapshot this connection's last commit created (None: it wrote none)."""
    row = conn.execute(f"SELECT id FROM {CATALOG}.last_committed_snapshot()").fetchone()
    return None if row is None or row[0] is None else int(row[0])


# What makes a unit of work worth another attempt: another writer's doing (a DuckLake
# commit conflict, where two transactions changed the same table in ways that cannot both
# stand; SQLite's catalog lock; two processes creating a new catalog's tables at once),
# the PostgreSQL catalog going away for a moment (a restart, a failover), or the object
# store doing so (DuckDB's HTTP client finds no server, loses the connection, or gets a
# 5xx answer). Nothing was committed in any case: the lake's catalog commits last, after
# every Parquet file is written, or the commit was a replace that lands the same rows again.
_TRANSIENT = (
    "Transaction conflict",
    "database is locked",
    "Exceeded the maximum retry count",
    "Failed to initialize DuckLake",
    "could not serialize access",
    "server closed the connection unexpectedly",
    "terminating connection",
    "Unable to connect to Postgres",
    "the database system is starting up",
    "the database system is shutting down",
    "Connection refused",
)


def is_transient(exc: BaseException) -> bool:
    """Whether the unit of work that raised ``exc`` may succeed when run again."""
    if isinstance(exc, duckdb.HTTPException):
        # The store answered: a refusal (403) or a missing object (404) stays so; its own
        # trouble (500, 503 while it starts) passes.
        status = getattr(exc, "status_code", None)
        if not status:
            found = re.search(r"\(HTTP (\d{3})\)", str(exc))
            status = int(found[1]) if found else 0
        return int(status) >= 500
    if isinstance(exc, duckdb.IOException) and " for HTTP " in str(exc):
        # No answer at all: no server, no name, a connection lost or timed out mid-request.
        return True
    return isinstance(exc, duckdb.Error) and any(marker in str(exc) for marker in _TRANSIENT)


@dataclass(frozen=True)
class Maintained:
    """What one maintenance pass did to the lake."""

    files_merged: int
    files_written: int
    snapshots_expired: int
    files_deleted: int


def maintain(conn: duckdb.DuckDBPyConnection, *, retention: str) -> Maintained:
    """Merge small files, expire snapshots older than ``retention`` (an interval such as
    ``'7 days'``), and delete the files that only expired snapshots read, once they have
    been unused for ``retention`` too.

    A reader is never broken: every file a snapshot younger than the retention reads
    stays, so a query that began within the retention, or one reading ``AT (VERSION =>
    ...)`` such a snapshot, finds all its files. Files no snapshot ever committed (a write
    in flight) are left alone.
    """
    older_than = "older_than => now() - CAST(? AS INTERVAL)"
    merged = conn.execute(f"CALL ducklake_merge_adjacent_files('{CATALOG}')").fetchall()
    expired = conn.execute(
        f"CALL ducklake_expire_snapshots('{CATALOG}', {older_than})", [retention]
    ).fetchall()
    deleted = conn.execute(
        f"CALL ducklake_cleanup_old_files('{CATALOG}', {older_than})", [retention]
    ).fetchall()
    return Maintained(
        files_merged=sum(int(row[2]) for row in merged),
        files_written=sum(int(row[3]) for row in merged),
        snapshots_expired=len(expired),
        files_deleted=len(deleted),
    )
