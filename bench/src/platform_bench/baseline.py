"""The data-plane baseline: every asset of the three locations as plain SQL in one DuckDB.

No Dagster and no per-file Python loop: each landing feed is read with one ``read_blob``
over all of its files, split into numbered lines, parsed and validated with the
ingestion contract's rules (bad lines go to ``ingestion.rejected_rows``), then the
transformation and analytics tables, the enriched-sales checks and the exports are built
with the same SQL as the locations. Run as a script so the benchmark can time it and read
its peak memory like any other process::

    python -m platform_bench.baseline --landing L --warehouse W --exports E \\
        --first 2025-01-01 --last 2025-12-31 [--format lake|file]

``--format lake`` (the default) builds the tables in a DuckLake in the folder ``W``, laid
out as the platform's embedded default (:func:`platform_bench.common.lake_env`), so the
figure compares the platform with the same SQL on the same kind of warehouse; ``file``
builds them in the DuckDB file ``W/warehouse.duckdb``, the warehouse the platform had
before the lake, to show what the lake format itself costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from platform_bench.common import lake_env
from platform_shared.lake import Catalog, attach

# Mirrors ingestion's macros: strict formats, NULL when a text is not in the contract's.
MACROS = r"""
CREATE OR REPLACE TEMP MACRO parse_id(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[0-9]{1,18}') THEN v END AS BIGINT);
CREATE OR REPLACE TEMP MACRO parse_integer(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[+-]?[0-9]{1,9}') THEN v END AS INTEGER);
CREATE OR REPLACE TEMP MACRO parse_money(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[+-]?[0-9]{1,10}(\.[0-9]{1,2})?') THEN v END
             AS DECIMAL(12, 2));
CREATE OR REPLACE TEMP MACRO parse_timestamp(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(
                 v, '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?')
             THEN v END AS TIMESTAMP);
CREATE OR REPLACE TEMP MACRO parse_date(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN v END AS DATE);
CREATE OR REPLACE TEMP MACRO missing(v) AS coalesce(v, '') = '';
CREATE OR REPLACE TEMP MACRO problem(name, v, parsed) AS
    CASE WHEN missing(v) THEN 'missing ' || name
         WHEN parsed IS NULL THEN name || ' is not valid' END;
CREATE OR REPLACE TEMP MACRO csv_fields(line) AS
    CASE
        WHEN strlen(line) = length(line) AND NOT contains(line, '"')
             AND NOT contains(line, ' ,') AND NOT contains(line, ', ')
             AND NOT starts_with(line, ' ') AND NOT ends_with(line, ' ')
            THEN string_split(line, ',')
        WHEN NOT contains(line, '"') THEN [trim(f) FOR f IN string_split(line, ',')]
        WHEN regexp_full_match(
            line, '(?:[ ]*"(?:[^"]|"")*"[ ]*|[^,"]*)(?:,(?:[ ]*"(?:[^"]|"")*"[ ]*|[^,"]*))*')
        THEN [
            CASE WHEN starts_with(trim(f), '"') THEN replace(trim(f)[2:-2], '""', '"')
                 ELSE trim(f) END
            FOR f IN regexp_extract_all(',' || line, ',([ ]*"(?:[^"]|"")*"[ ]*|[^,"]*)', 1)
        ]
    END;
"""

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS ingestion;
CREATE SCHEMA IF NOT EXISTS transformation;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE TABLE ingestion.rejected_rows (
    asset VARCHAR NOT NULL, partition_key VARCHAR, source_file VARCHAR NOT NULL,
    line_number BIGINT NOT NULL, raw_line VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    rejected_at TIMESTAMP NOT NULL
);
"""


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    parse: str | None  # macro name; None for text
    extra: str = ""  # an additional rule on the parsed value, as a CASE branch


@dataclass(frozen=True)
class FeedSpec:
    name: str
    columns: tuple[Column, ...]
    partition_column: str | None = None

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]


FEEDS = (
    FeedSpec(
        "customers",
        (
            Column("customer_id", "BIGINT", "parse_id"),
            Column("name", "VARCHAR", None),
            Column(
                "email",
                "VARCHAR",
                None,
                "WHEN NOT regexp_full_match(f[3], '[^@\\s]+@[^@\\s]+') THEN 'email has no @'",
            ),
            Column(
                "region",
                "VARCHAR",
                None,
                "WHEN f[4] NOT IN ('US', 'EU', 'APAC') THEN 'region is not one of US, EU, APAC'",
            ),
            Column("signup_date", "DATE", "parse_date"),
        ),
    ),
    FeedSpec(
        "products",
        (
            Column("product_id", "BIGINT", "parse_id"),
            Column("name", "VARCHAR", None),
            Column("category", "VARCHAR", None),
            Column(
                "unit_price",
                "DECIMAL(12, 2)",
                "parse_money",
                "WHEN parse_money(f[4]) < 0 THEN 'unit_price is negative'",
            ),
        ),
    ),
    FeedSpec(
        "orders",
        (
            Column("order_id", "BIGINT", "parse_id"),
            Column("customer_id", "BIGINT", "parse_id"),
            Column("order_ts", "TIMESTAMP", "parse_timestamp"),
            Column("status", "VARCHAR", None),
        ),
        partition_column="order_date",
    ),
    FeedSpec(
        "sales",
        (
            Column("sale_id", "BIGINT", "parse_id"),
            Column("order_id", "BIGINT", "parse_id"),
            Column("customer_id", "BIGINT", "parse_id"),
            Column("product_id", "BIGINT", "parse_id"),
            Column(
                "quantity",
                "INTEGER",
                "parse_integer",
                "WHEN parse_integer(f[5]) <= 0 THEN 'quantity is not positive'",
            ),
            Column(
                "unit_price",
                "DECIMAL(12, 2)",
                "parse_money",
                "WHEN parse_money(f[6]) < 0 THEN 'unit_price is negative'",
            ),
            Column("sale_ts", "TIMESTAMP", "parse_timestamp"),
        ),
        partition_column="sale_date",
    ),
)


def _load_feed_sql(feed: FeedSpec) -> list[str]:
    """Statements that load every file bound as ``$files`` (a list) into the feed's table."""
    n = len(feed.columns)
    values, problems = [], []
    for i, col in enumerate(feed.columns, start=1):
        field = f"f[{i}]"
        if col.parse:
            values.append(f"{col.parse}({field}) AS {col.name}")
            problems.append(f"problem('{col.name}', {field}, {col.parse}({field}))")
        else:
            values.append(f"{field} AS {col.name}")
            problems.append(f"CASE WHEN missing({field}) THEN 'missing {col.name}' END")
        if col.extra:
            problems.append(f"CASE WHEN missing({field}) THEN NULL {col.extra} END")
    key = feed.columns[0].name
    day = f"strftime({feed.partition_column}, '%Y-%m-%d')" if feed.partition_column else "NULL"
    partition = (
        f", regexp_extract(filename, '([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})\\.csv$', 1)::DATE "
        f"AS {feed.partition_column}"
        if feed.partition_column
        else ""
    )
    columns = ",\n    ".join(f"{c.name} {c.sql_type} NOT NULL" for c in feed.columns)
    extra_column = f",\n    {feed.partition_column} DATE NOT NULL" if feed.partition_column else ""
    return [
        f"CREATE TABLE ingestion.{feed.name} (\n    {columns}{extra_column}\n)",
        """
        CREATE OR REPLACE TEMP TABLE lines AS
        WITH split AS (
            SELECT filename, string_split(decode(content), chr(10)) AS l FROM read_blob($files)
        )
        SELECT filename, generate_subscripts(l, 1) AS line_number,
               rtrim(unnest(l), chr(13)) AS raw_line
        FROM split
        """,
        f"""
        CREATE OR REPLACE TEMP TABLE staged AS
        WITH fields AS (
            SELECT filename, line_number, raw_line, csv_fields(raw_line) AS f
            FROM lines WHERE line_number > 1 AND trim(raw_line) <> ''
        ),
        checked AS MATERIALIZED (
            SELECT filename, line_number, raw_line,
                {", ".join(values)}{partition},
                CASE
                    WHEN regexp_matches(raw_line, '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]')
                        THEN 'line contains control characters'
                    WHEN f IS NULL THEN 'unparseable CSV line'
                    WHEN len(f) <> {n} THEN 'expected {n} fields, found ' || len(f)
                    ELSE nullif(concat_ws('; ', {", ".join(problems)}), '')
                END AS problems
            FROM fields
        ),
        repeated AS (
            SELECT filename, {key}, min(line_number) AS first_line
            FROM checked WHERE problems IS NULL
            GROUP BY filename, {key} HAVING count(*) > 1
        )
        SELECT checked.* EXCLUDE (problems),
            CASE
                WHEN problems IS NOT NULL THEN problems
                WHEN line_number > repeated.first_line THEN 'duplicate {key}'
            END AS reason
        FROM checked LEFT JOIN repeated
            ON checked.problems IS NULL AND repeated.filename = checked.filename
           AND repeated.{key} = checked.{key}
        """,
        f"""
        INSERT INTO ingestion.{feed.name} BY NAME
        SELECT * EXCLUDE (filename, line_number, raw_line, reason) FROM staged
        WHERE reason IS NULL ORDER BY filename, line_number
        """,
        f"""
        INSERT INTO ingestion.rejected_rows
        SELECT '{feed.name}',
            {day},
            filename, line_number, raw_line, reason, now()::TIMESTAMP
        FROM staged WHERE reason IS NOT NULL ORDER BY filename, line_number
        """,
    ]


TRANSFORMATION = [
    """
    CREATE TABLE transformation.enriched_sales AS
    SELECT s.sale_id, s.order_id, s.customer_id, s.product_id,
        p.name AS product_name, p.category, c.region, s.quantity, s.unit_price,
        CAST(s.quantity * s.unit_price AS DECIMAL(18,2)) AS revenue, s.sale_ts, s.sale_date
    FROM ingestion.sales AS s
    LEFT JOIN ingestion.products AS p ON p.product_id = s.product_id
    LEFT JOIN ingestion.customers AS c ON c.customer_id = s.customer_id
    WHERE s.sale_date BETWEEN $first AND $last
    """,
    """
    CREATE TABLE transformation.daily_sales AS
    SELECT sale_date AS date, count(DISTINCT order_id) AS orders, sum(quantity) AS units,
        sum(revenue) AS revenue
    FROM transformation.enriched_sales WHERE sale_date BETWEEN $first AND $last
    GROUP BY sale_date
    """,
    """
    CREATE TABLE transformation.regional_daily_sales AS
    SELECT sale_date AS date, region, count(DISTINCT order_id) AS orders,
        sum(quantity) AS units, sum(revenue) AS revenue
    FROM transformation.enriched_sales
    WHERE sale_date BETWEEN $first AND $last AND region IN ('US', 'EU', 'APAC')
    GROUP BY sale_date, region
    """,
    """
    CREATE TABLE transformation.customer_emails AS
    SELECT customer_id, lower(trim(email)) AS email,
        split_part(lower(trim(email)), '@', 2) AS email_domain
    FROM ingestion.customers
    WHERE regexp_full_match(lower(trim(email)), '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')
    ORDER BY customer_id
    """,
    """
    CREATE TABLE transformation.customer_orders AS
    SELECT c.customer_id, c.name, c.region, count(DISTINCT o.order_id) AS order_count,
        min(o.order_ts) AS first_order_ts, max(o.order_ts) AS last_order_ts
    FROM ingestion.customers AS c
    LEFT JOIN ingestion.orders AS o ON o.customer_id = c.customer_id
    GROUP BY c.customer_id, c.name, c.region
    """,
]

# The enriched_sales checks, each counting its failing rows over the range.
CHECKS = {
    "known_products_and_customers": """
        SELECT count(*) FROM transformation.enriched_sales AS e
        WHERE e.sale_date BETWEEN $first AND $last
          AND (NOT EXISTS (SELECT 1 FROM ingestion.products p WHERE p.product_id = e.product_id)
            OR NOT EXISTS (SELECT 1 FROM ingestion.customers c
                           WHERE c.customer_id = e.customer_id))
    """,
    "unique_sale_id": """
        SELECT count(*) FROM (
            SELECT sale_id FROM transformation.enriched_sales GROUP BY sale_id
            HAVING count(*) > 1 AND bool_or(sale_date BETWEEN $first AND $last))
    """,
    "revenue_not_negative": """
        SELECT count(*) FROM transformation.enriched_sales
        WHERE sale_date BETWEEN $first AND $last AND revenue < 0
    """,
    "reconciles_with_ingestion": """
        WITH i AS (SELECT sale_date, count(*) AS n, sum(quantity * unit_price) AS r
                   FROM ingestion.sales WHERE sale_date BETWEEN $first AND $last GROUP BY 1),
             e AS (SELECT sale_date, count(*) AS n, sum(revenue) AS r
                   FROM transformation.enriched_sales
                   WHERE sale_date BETWEEN $first AND $last GROUP BY 1)
        SELECT count(*) FROM i FULL OUTER JOIN e USING (sale_date)
        WHERE coalesce(i.n, 0) <> coalesce(e.n, 0) OR coalesce(i.r, 0) <> coalesce(e.r, 0)
    """,
}

ANALYTICS = [
    """
    CREATE TABLE analytics.sales_summary AS
    WITH by_region AS (
        SELECT region, count(DISTINCT order_id) AS orders, sum(quantity) AS units,
            sum(revenue) AS revenue
        FROM transformation.enriched_sales GROUP BY region
    )
    SELECT region, orders, units, revenue,
        round(revenue / orders, 2)::DECIMAL(18,2) AS avg_order_value,
        round(revenue / nullif(sum(revenue) OVER (), 0), 4)::DECIMAL(6,4) AS revenue_share
    FROM by_region
    """,
    """
    CREATE TABLE analytics.top_products AS
    WITH by_product AS (
        SELECT product_id, arg_max(product_name, sale_ts) AS product_name,
            arg_max(category, sale_ts) AS category, count(DISTINCT order_id) AS orders,
            sum(quantity) AS units, sum(revenue) AS revenue
        FROM transformation.enriched_sales GROUP BY product_id
    )
    SELECT row_number() OVER (ORDER BY revenue DESC, product_id) AS rank, product_id,
        product_name, category, orders, units, revenue,
        round(revenue / nullif(sum(revenue) OVER (), 0), 4)::DECIMAL(6,4) AS revenue_share
    FROM by_product QUALIFY rank <= 10
    """,
    """
    CREATE TABLE analytics.customer_lifetime_value AS
    WITH purchases AS (
        SELECT customer_id, arg_max(region, sale_ts) AS region,
            count(DISTINCT order_id) AS orders, sum(revenue) AS revenue,
            min(sale_date) AS first_purchase_date, max(sale_date) AS last_purchase_date
        FROM transformation.enriched_sales GROUP BY customer_id
    )
    SELECT customer_id, c.name, coalesce(c.region, p.region) AS region,
        coalesce(p.orders, 0) AS orders, coalesce(p.revenue, 0)::DECIMAL(18,2) AS revenue,
        p.first_purchase_date, p.last_purchase_date,
        round(p.revenue / p.orders, 2)::DECIMAL(18,2) AS avg_order_value
    FROM transformation.customer_orders AS c
    FULL OUTER JOIN purchases AS p USING (customer_id)
    """,
    # The report's default window: the 30 days ending at the latest loaded date.
    """
    CREATE TABLE analytics.daily_revenue_report AS
    SELECT date, region, orders, units, revenue,
        round(revenue / nullif(sum(revenue) OVER (PARTITION BY date), 0), 4)::DECIMAL(6,4)
            AS share_of_day
    FROM transformation.regional_daily_sales
    WHERE date BETWEEN (SELECT max(date) FROM transformation.regional_daily_sales) - 29
                   AND (SELECT max(date) FROM transformation.regional_daily_sales)
    """,
]


def daily_files(landing: Path, folder: str, first: dt.date, last: dt.date) -> list[str]:
    days = (last - first).days + 1
    paths = [landing / folder / f"{first + dt.timedelta(days=i)}.csv" for i in range(days)]
    return [str(p) for p in paths if p.is_file()]


def connect(folder: Path, *, lake: bool) -> duckdb.DuckDBPyConnection:
    """One connection to a new warehouse in ``folder``: a DuckLake or a DuckDB file."""
    folder.mkdir(parents=True, exist_ok=True)
    if not lake:
        return duckdb.connect(str(folder / "warehouse.duckdb"))
    settings = lake_env(folder)
    conn = duckdb.connect()
    attach(
        conn,
        Catalog.parse(settings["WAREHOUSE_CATALOG"]),
        settings["WAREHOUSE_DATA_PATH"],
        read_only=False,
    )
    return conn


def run(
    landing: Path,
    warehouse: Path,
    exports: Path,
    first: dt.date,
    last: dt.date,
    *,
    lake: bool = True,
) -> dict[str, float]:
    """Build every table into a new warehouse in the folder ``warehouse``; returns seconds
    per stage."""
    stages: dict[str, float] = {}
    exports.mkdir(parents=True, exist_ok=True)
    with connect(warehouse, lake=lake) as conn:
        conn.execute("SET enable_progress_bar = false")
        conn.execute(MACROS)
        conn.execute(SCHEMA)
        for feed in FEEDS:
            started = time.perf_counter()
            if feed.partition_column:
                files = daily_files(landing, feed.name, first, last)
            else:
                files = [str(landing / f"{feed.name}.csv")]
            if not files:
                raise FileNotFoundError(f"no {feed.name} files in {landing}")
            create, lines, staged, insert, reject = _load_feed_sql(feed)
            conn.execute(create)
            conn.execute(lines, {"files": files})
            _check_headers(conn, feed)
            for statement in (staged, insert, reject):
                conn.execute(statement)
            stages[f"ingestion.{feed.name}"] = time.perf_counter() - started
        bounds = {"first": first, "last": last}
        started = time.perf_counter()
        for statement in TRANSFORMATION:
            conn.execute(statement, bounds if "$first" in statement else None)
        failing = {
            name: _scalar(conn, check, bounds) for name, check in CHECKS.items() if check.strip()
        }
        if any(failing.values()):
            raise RuntimeError(f"enriched_sales checks failed: {failing}")
        stages["transformation"] = time.perf_counter() - started
        started = time.perf_counter()
        for statement in ANALYTICS:
            conn.execute(statement)
        conn.execute(
            "COPY (SELECT * FROM analytics.sales_summary ORDER BY revenue DESC, region) "
            "TO ? (FORMAT csv, HEADER)",
            [str(exports / "sales_summary.csv")],
        )
        conn.execute(
            "COPY (SELECT * FROM analytics.daily_revenue_report ORDER BY date, region) "
            "TO ? (FORMAT parquet)",
            [str(exports / "daily_revenue_report.parquet")],
        )
        stages["analytics"] = time.perf_counter() - started
    return stages


def _scalar(conn: duckdb.DuckDBPyConnection, query: str, params: object = None) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _check_headers(conn: duckdb.DuckDBPyConnection, feed: FeedSpec) -> None:
    rows = conn.execute(
        "SELECT DISTINCT lower(ltrim(raw_line, chr(65279))) FROM lines WHERE line_number = 1"
    ).fetchall()
    expected = ",".join(feed.header)
    wrong = [r[0] for r in rows if r[0].replace(" ", "") != expected]
    if wrong:
        raise ValueError(f"{feed.name}: unexpected header(s) {wrong}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The data-plane baseline in one DuckDB.")
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--exports", type=Path, required=True)
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
    )
    print(json.dumps({k: round(v, 3) for k, v in stages.items()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
