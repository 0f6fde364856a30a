"""The data-plane baseline: every asset of the three locations in one DuckDB, without Dagster.

It runs the locations' own SQL files with the parameters their assets pass, so the
figure measures what orchestration adds and nothing else: each landing feed goes through
ingestion's loader (all of a feed's files in batches, one transaction, as a range run
loads them), the transformation and analytics tables are built from the ``sql/`` folders
beside their assets, the enriched-sales checks count their failing rows, and the exports
are written with the published tables' orderings. ``customer_emails`` is the one asset
written in pandas; its own function computes it here too. Run as a script so the
benchmark can time it and read its peak memory like any other process::

    python -m platform_bench.baseline --landing L --warehouse W --exports E \\
        --first 2025-01-01 --last 2025-12-31 [--format lake|file] [--data-path URL]

``--format lake`` (the default) builds the tables in a DuckLake in the folder ``W``, laid
out as the platform's embedded default (:func:`platform_bench.common.lake_env`), so the
figure compares the platform with the same SQL on the same kind of warehouse; ``file``
builds them in the DuckDB file ``W/warehouse.duckdb``, the warehouse the platform had
before the lake, to show what the lake format itself costs. ``--data-path`` puts the
lake's Parquet files elsewhere (a bucket's ``s3://`` prefix), and ``--exports`` may be a
bucket's prefix too, as on the platform.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb

from analytics.defs.reports.assets import ReportConfig
from analytics.defs.sales.assets import TOP_PRODUCTS_LIMIT
from analytics.exports import export_query
from ingestion.defs.feeds.file_loader import Target, batches, load_files, prepare
from ingestion.feeds import CUSTOMERS, ORDERS, PRODUCTS, SALES, Feed
from platform_bench.common import lake_env
from platform_shared.lake import Catalog, attach
from platform_shared.partitions import REGIONS
from platform_shared.sql import SqlFolder
from platform_shared.storage import store
from transformation.defs.customers.assets import customer_emails

SALES_MODELS = SqlFolder("transformation.defs.sales")
CUSTOMER_MODELS = SqlFolder("transformation.defs.customers")
SALES_MARTS = SqlFolder("analytics.defs.sales")
CUSTOMER_MARTS = SqlFolder("analytics.defs.customers")
REPORTS = SqlFolder("analytics.defs.reports")
# The enriched_sales checks (transformation.defs.sales.checks), each a failing-rows query.
CHECKS = (
    "known_products_and_customers",
    "unique_sale_id",
    "revenue_not_negative",
    "reconciles_with_ingestion",
)


def connect(folder: Path, *, lake: bool, data_path: str = "") -> duckdb.DuckDBPyConnection:
    """One connection to a new warehouse in ``folder``: a DuckLake (its Parquet files under
    ``data_path`` if given) or a DuckDB file."""
    folder.mkdir(parents=True, exist_ok=True)
    if not lake:
        return duckdb.connect(str(folder / "warehouse.duckdb"))
    settings = lake_env(folder)
    conn = duckdb.connect()
    attach(
        conn,
        Catalog.parse(settings["WAREHOUSE_CATALOG"]),
        data_path or settings["WAREHOUSE_DATA_PATH"],
        read_only=False,
    )
    return conn


def run(
    landing: str,
    warehouse: Path,
    exports: str,
    first: dt.date,
    last: dt.date,
    *,
    lake: bool = True,
    data_path: str = "",
) -> dict[str, float]:
    """Build every table into a new warehouse in the folder ``warehouse``; returns seconds
    per stage."""
    stages: dict[str, float] = {}
    with (
        connect(warehouse, lake=lake, data_path=data_path) as conn,
        tempfile.TemporaryDirectory(prefix="baseline-exports-") as scratch,
    ):
        conn.execute("SET enable_progress_bar = false")
        prepare(conn)
        rejected_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for feed in (CUSTOMERS, PRODUCTS, ORDERS, SALES):
            started = time.perf_counter()
            targets = _targets(landing, feed, first, last)
            with _transaction(conn):
                for batch in batches(targets):
                    load_files(conn, feed, batch, rejected_at=rejected_at)
            stages[f"ingestion.{feed.name}"] = time.perf_counter() - started

        started = time.perf_counter()
        with _transaction(conn):
            _build(conn, SALES_MODELS, "enriched_sales", [first, last])
            failing = {name: _failing(conn, name, [first, last]) for name in CHECKS}
            if any(failing.values()):
                raise RuntimeError(f"enriched_sales checks failed: {failing}")
            _build(conn, SALES_MODELS, "daily_sales", [first, last])
            _build(conn, SALES_MODELS, "regional_daily_sales", [first, last, list(REGIONS)])
            _build(conn, CUSTOMER_MODELS, "customer_orders")
            _customer_emails(conn)
        stages["transformation"] = time.perf_counter() - started

        started = time.perf_counter()
        with _transaction(conn):
            SALES_MARTS.rebuild_table(conn, "sales_summary")
            SALES_MARTS.rebuild_table(conn, "top_products", [TOP_PRODUCTS_LIMIT])
            CUSTOMER_MARTS.rebuild_table(conn, "customer_lifetime_value")
            latest = _scalar(conn, "SELECT max(date) FROM transformation.regional_daily_sales")
            window = ReportConfig().window(latest)
            if window is None:
                raise RuntimeError("transformation.regional_daily_sales is empty")
            REPORTS.rebuild_table(conn, "daily_revenue_report", list(window))
            # Written aside and put in place after the commit, as the platform's exports are.
            written = [
                _export(conn, "analytics.sales_summary", "revenue DESC, region", "csv", scratch),
                _export(conn, "analytics.daily_revenue_report", "date, region", "parquet", scratch),
            ]
        published = store(exports)
        for path in written:
            published.put_file(path.name, path)
        stages["analytics"] = time.perf_counter() - started
    return stages


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One commit for the block, as each of the platform's runs commits its writes."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _targets(landing: str, feed: Feed, first: dt.date, last: dt.date) -> list[Target]:
    """The feed's files over [first, last] (its one snapshot file for a reference feed)."""
    span = range((last - first).days + 1)
    keys = [(first + dt.timedelta(days=i)).isoformat() for i in span] if feed.is_daily else [None]
    files = store(landing)
    listed = {f.name: f for f in files.list(feed.folder or "")}
    targets = []
    for key in keys:
        found = listed.get(feed.relative_path(key))
        if found is not None and found.is_file:
            targets.append(Target(key, found.name, files.reference(found.name), found.size))
    if not targets:
        raise FileNotFoundError(f"no {feed.name} files in {landing}")
    return targets


def _build(
    conn: duckdb.DuckDBPyConnection, sql: SqlFolder, table: str, params: Sequence[object] = ()
) -> None:
    """A model into a new warehouse: its create file, then its insert with the asset's
    parameters (the DELETE of a rerun has nothing to remove here)."""
    sql.create_table(conn, table)
    conn.execute(sql.query(f"{table}.insert"), list(params))


def _failing(conn: duckdb.DuckDBPyConnection, check: str, params: Sequence[object]) -> int:
    query = SALES_MODELS.query(f"checks/{check}")
    return int(_scalar(conn, f"SELECT count(*) FROM ({query})", params) or 0)


def _customer_emails(conn: duckdb.DuckDBPyConnection) -> None:
    """The asset's own pandas function over the columns its IO manager reads."""
    customers = conn.execute("SELECT customer_id, email FROM ingestion.customers").df()
    compute: Callable[..., object] = customer_emails
    output = compute(dg.build_asset_context(), customers)
    frame = output.value if isinstance(output, dg.Output) else output
    conn.register("customer_emails_frame", frame)
    conn.execute("CREATE TABLE transformation.customer_emails AS FROM customer_emails_frame")
    conn.unregister("customer_emails_frame")


def _export(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    order: str,
    fmt: Literal["csv", "parquet"],
    folder: str,
) -> Path:
    """The published file of ``table``, ordered as its asset orders it, in ``folder``."""
    path = Path(folder) / f"{table.split('.')[1]}.{fmt}"
    export_query(conn, f"SELECT * FROM {table} ORDER BY {order}", path, fmt)
    return path


def _scalar(conn: duckdb.DuckDBPyConnection, query: str, params: object = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The data-plane baseline in one DuckDB.")
    parser.add_argument("--landing", required=True, help="a folder or s3://bucket/prefix")
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--exports", required=True, help="a folder or s3://bucket/prefix")
    parser.add_argument("--data-path", default="", help="the lake's Parquet files (s3://...)")
    parser.add_argument("--first", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--last", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--format", choices=("lake", "file"), default="lake")
    args = parser.parse_args(argv)
    stages = run(
        args.landing,
        args.warehouse,
        args.exports,
        args.first,
        args.last,
        lake=args.format == "lake",
        data_path=args.data_path,
    )
    print(json.dumps({k: round(v, 3) for k, v in stages.items()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
