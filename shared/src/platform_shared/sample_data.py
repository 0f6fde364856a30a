"""Deterministic sample landing files, generated inside DuckDB.

Rows are derived from ``hash(seed, row number)`` rather than a random generator, so the
same seed gives the same files whatever the thread count, and a day's file can be
written without generating the others. Every file is written under a temporary name and
renamed, exactly as a well-behaved feed delivers it.

The files go into a folder (:func:`generate`) or any landing location, a bucket included
(:func:`deliver`). Every image of a location carries this module, so a stack whose landing
zone is a bucket seeds it from inside its own network:

    python -m platform_shared.sample_data --keep-existing     # into LANDING_URL
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from platform_shared.settings import current
from platform_shared.storage import is_url, store

SALES_HEADER = "sale_id,order_id,customer_id,product_id,quantity,unit_price,sale_ts"
ORDERS_HEADER = "order_id,customer_id,order_ts,status"
CUSTOMERS_HEADER = "customer_id,name,email,region,signup_date"
PRODUCTS_HEADER = "product_id,name,category,unit_price"
LINES_PER_ORDER = 3


@dataclass(frozen=True)
class SampleSpec:
    start: dt.date = dt.date(2025, 1, 1)
    days: int = 7
    sales_rows: int = 2100
    customers: int = 200
    products: int = 50
    seed: int = 42
    bad_fraction: float = 0.0
    bad_reference_rows: bool = False

    @property
    def sales_per_day(self) -> int:
        return max(1, self.sales_rows // self.days)

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]


#: The sample a new stack starts with (`make dev`'s first start, `make up`): a week of
#: files, one line in a hundred broken, so the quarantine has something to show.
FIRST_START = SampleSpec(bad_fraction=0.01)


def _u(expr: str, salt: int, seed: int) -> str:
    """SQL for a uniform number in [0, 1) derived from ``expr``."""
    return f"((hash({expr}, {seed}, {salt}) % 1000000)::DOUBLE / 1000000)"


def _bad(expr: str, spec: SampleSpec) -> str:
    """SQL predicate that picks ``bad_fraction`` of the rows, deterministically."""
    if spec.bad_fraction <= 0:
        return "FALSE"
    return f"{_u(expr, 99, spec.seed)} < {float(spec.bad_fraction)}"


def _copy_lines(conn: duckdb.DuckDBPyConnection, header: str, body_sql: str, target: Path) -> None:
    """Write ``header`` then the ``line`` column of ``body_sql`` to ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    conn.execute(
        f"""
        COPY (
            SELECT line FROM (
                SELECT 0 AS part, 0 AS n, ? AS line
                UNION ALL
                SELECT 1 AS part, n, line FROM ({body_sql})
            )
            ORDER BY part, n
        ) TO '{tmp.as_posix()}' (FORMAT csv, HEADER false, DELIMITER '\t', QUOTE '')
        """,
        [header],
    )
    os.replace(tmp, target)


def _reference_files(conn: duckdb.DuckDBPyConnection, spec: SampleSpec, out: Path) -> None:
    s = spec.seed
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE sample_products AS
        SELECT
            i AS product_id,
            'Product ' || i AS name,
            ['books', 'games', 'garden', 'kitchen', 'office', 'toys'][
                1 + (hash(i, {s}, 1) % 6)::INT] AS category,
            round(2 + {_u("i", 2, s)} * 198, 2)::DECIMAL(12, 2) AS unit_price
        FROM range(1, {spec.products + 1}) t(i)
        """
    )
    region = f"['US', 'EU', 'APAC'][1 + (hash(i, {s}, 3) % 3)::INT]"
    # Reference rows are only broken on request: a quarantined customer makes every sale
    # of theirs an orphan, which the transformation checks rightly refuse.
    bad = _bad("i", spec) if spec.bad_reference_rows else "FALSE"
    _copy_lines(
        conn,
        CUSTOMERS_HEADER,
        f"""
        SELECT i AS n, concat_ws(',',
            i,
            'Customer ' || i,
            CASE WHEN {bad} AND i % 2 = 0 THEN 'customer' || i || '.example.com'
                 ELSE 'customer' || i || '@example.com' END,
            CASE WHEN {bad} AND i % 2 = 1 THEN 'LATAM' ELSE {region} END,
            DATE '2023-01-01' + (hash(i, {s}, 4) % 700)::INT
        ) AS line
        FROM range(1, {spec.customers + 1}) t(i)
        """,
        out / "customers.csv",
    )
    _copy_lines(
        conn,
        PRODUCTS_HEADER,
        """
        SELECT product_id AS n,
               concat_ws(',', product_id, name, category, unit_price) AS line
        FROM sample_products
        """,
        out / "products.csv",
    )


def _daily_files(
    conn: duckdb.DuckDBPyConnection, spec: SampleSpec, out: Path, day_index: int
) -> None:
    s, per_day = spec.seed, spec.sales_per_day
    day = spec.start + dt.timedelta(days=day_index)
    orders_per_day = -(-per_day // LINES_PER_ORDER)
    first_sale = day_index * per_day + 1
    first_order = day_index * orders_per_day + 1
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE day_sales AS
        SELECT
            {first_sale} + i AS sale_id,
            {first_order} + i // {LINES_PER_ORDER} AS order_id,
            1 + hash({first_order} + i // {LINES_PER_ORDER}, {s}, 5)
                % {spec.customers} AS customer_id,
            1 + hash({first_sale} + i, {s}, 6) % {spec.products} AS product_id,
            1 + (hash({first_sale} + i, {s}, 7) % 5)::INT AS quantity,
            TIMESTAMP '{day.isoformat()} 00:00:00'
                + to_seconds((hash({first_order} + i // {LINES_PER_ORDER}, {s}, 8)
                              % 86000)::BIGINT) AS sale_ts
        FROM range({per_day}) t(i)
        """
    )
    # A fraction of lines is broken on purpose, one defect kind per line: a negative
    # quantity, an unparseable timestamp, a missing id, a short row.
    bad = _bad("sale_id", spec)
    _copy_lines(
        conn,
        SALES_HEADER,
        f"""
        SELECT sale_id AS n,
            CASE WHEN NOT ({bad}) THEN concat_ws(',', sale_id, order_id, customer_id,
                        product_id, quantity, unit_price, ts)
                 WHEN sale_id % 4 = 0 THEN concat_ws(',', sale_id, order_id, customer_id,
                        product_id, -quantity, unit_price, ts)
                 WHEN sale_id % 4 = 1 THEN concat_ws(',', sale_id, order_id, customer_id,
                        product_id, quantity, unit_price, 'yesterday-ish')
                 WHEN sale_id % 4 = 2 THEN concat_ws(',', '', order_id, customer_id,
                        product_id, quantity, unit_price, ts)
                 ELSE concat_ws(',', sale_id, order_id, customer_id, product_id)
            END AS line
        FROM (
            SELECT d.*, p.unit_price, strftime(d.sale_ts, '%Y-%m-%d %H:%M:%S') AS ts
            FROM day_sales d JOIN sample_products p USING (product_id)
        )
        """,
        out / "sales" / f"{day.isoformat()}.csv",
    )
    _copy_lines(
        conn,
        ORDERS_HEADER,
        f"""
        SELECT order_id AS n, concat_ws(',', order_id, any_value(customer_id),
            strftime(min(sale_ts), '%Y-%m-%d %H:%M:%S'),
            CASE WHEN hash(order_id, {s}, 9) % 20 = 0 THEN 'cancelled' ELSE 'completed' END
        ) AS line
        FROM day_sales GROUP BY order_id
        """,
        out / "orders" / f"{day.isoformat()}.csv",
    )


def generate(out: Path, spec: SampleSpec, *, progress: bool = False) -> list[Path]:
    """Write reference files and one orders and one sales file per day into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        _reference_files(conn, spec, out)
        for i in range(spec.days):
            _daily_files(conn, spec, out, i)
            if progress and (i + 1) % max(1, spec.days // 10) == 0:
                print(f"  {i + 1}/{spec.days} days written", flush=True)
    files = [out / "customers.csv", out / "products.csv"]
    for day in spec.dates():
        files += [out / "orders" / f"{day}.csv", out / "sales" / f"{day}.csv"]
    return files


def deliver(
    landing: str, spec: SampleSpec, *, keep_existing: bool = False, progress: bool = False
) -> list[str]:
    """Put the sample's files into ``landing`` (a folder or ``s3://bucket/prefix``); the
    names written. ``keep_existing`` leaves every file already there as it is: a team's
    delivery is never overwritten, and delivering again writes nothing."""
    if not is_url(landing) and not keep_existing:
        folder = Path(landing)
        return [p.relative_to(folder).as_posix() for p in generate(folder, spec, progress=progress)]
    target = store(landing)
    written = []
    with tempfile.TemporaryDirectory(prefix="platform-sample-") as scratch:
        root = Path(scratch)
        for path in generate(root, spec, progress=progress):
            name = path.relative_to(root).as_posix()
            if keep_existing and target.stat(name) is not None:
                continue
            target.put_file(name, path, content_type="text/csv")
            written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    defaults = FIRST_START
    parser = argparse.ArgumentParser(
        prog="python -m platform_shared.sample_data",
        description="Deliver deterministic sample landing files.",
    )
    parser.add_argument(
        "--to", default=None, help="landing folder or s3:// prefix (default: LANDING_URL)"
    )
    parser.add_argument(
        "--keep-existing", action="store_true", help="leave files already delivered as they are"
    )
    parser.add_argument("--start", default=defaults.start.isoformat())
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--rows", type=int, default=defaults.sales_rows, help="total sales rows")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--bad-fraction",
        type=float,
        default=defaults.bad_fraction,
        help="share of deliberately malformed rows",
    )
    parser.add_argument(
        "--bad-reference-rows",
        action="store_true",
        help="break customers.csv rows too (their sales then fail referential checks)",
    )
    args = parser.parse_args(argv)
    spec = dataclasses.replace(
        defaults,
        start=dt.date.fromisoformat(args.start),
        days=args.days,
        sales_rows=args.rows,
        customers=args.customers,
        products=args.products,
        seed=args.seed,
        bad_fraction=args.bad_fraction,
        bad_reference_rows=args.bad_reference_rows,
    )
    landing = args.to or current("LANDING_URL")
    started = time.perf_counter()
    written = deliver(landing, spec, keep_existing=args.keep_existing, progress=True)
    kept = "" if not args.keep_existing else ", keeping the files already there"
    print(
        f"wrote {len(written)} files ({spec.sales_rows:,} sales rows) into {landing} in "
        f"{time.perf_counter() - started:.1f} s{kept}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
