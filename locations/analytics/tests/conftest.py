"""A small warehouse holding transformation's tables (the contract), with known values.

Sale lines (enriched_sales):

    sale order cust product             region qty price  revenue date
    1    100   1    10 Widget           US     2   10.00  20.00   2024-03-01
    2    100   1    30 Manual           US     1    5.00   5.00   2024-03-01
    3    101   2    20 Gadget           EU     1   30.00  30.00   2024-03-01
    4    102   1    20 Gadget           US     2   30.00  60.00   2024-03-02
    5    103   3    10 Widget           APAC   3   10.00  30.00   2024-03-02
    6    104   2    30 Manual           EU     4    5.00  20.00   2024-03-03
    7    105   3    10 Widget Pro       APAC   1   10.00  10.00   2024-03-03
    8    106   5    30 Manual           EU     2    5.00  10.00   2024-03-03

Product 10 was renamed "Widget Pro" by its latest sale. Customer 4 (Dana) has an order
but no sale line; customer 5 has a sale line but is not in customer_orders.
"""

import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from analytics.resources import PlatformLinks
from platform_shared.resources import Exports, WarehouseResource
from platform_shared.storage import Store
from platform_shared.testing import (
    catalogs,
    drop_crossed_variants,
    stores,
    temporary_store,
    temporary_warehouse,
)

WEBSERVER_URL = "http://dagster.test:3000"

SEED_SQL = """
CREATE SCHEMA IF NOT EXISTS transformation;

CREATE TABLE transformation.enriched_sales (
    sale_id BIGINT, order_id BIGINT, customer_id BIGINT, product_id BIGINT,
    product_name VARCHAR, category VARCHAR, region VARCHAR, quantity INTEGER,
    unit_price DECIMAL(12,2), revenue DECIMAL(18,2), sale_ts TIMESTAMP, sale_date DATE
);
INSERT INTO transformation.enriched_sales
SELECT sale_id, order_id, customer_id, product_id, product_name, category, region, quantity,
       unit_price, quantity * unit_price, sale_ts, sale_ts::DATE
FROM (VALUES
    (1, 100, 1, 10, 'Widget',     'Hardware', 'US',   2, 10.00, TIMESTAMP '2024-03-01 09:00'),
    (2, 100, 1, 30, 'Manual',     'Books',    'US',   1,  5.00, TIMESTAMP '2024-03-01 09:00'),
    (3, 101, 2, 20, 'Gadget',     'Hardware', 'EU',   1, 30.00, TIMESTAMP '2024-03-01 10:00'),
    (4, 102, 1, 20, 'Gadget',     'Hardware', 'US',   2, 30.00, TIMESTAMP '2024-03-02 11:00'),
    (5, 103, 3, 10, 'Widget',     'Hardware', 'APAC', 3, 10.00, TIMESTAMP '2024-03-02 12:00'),
    (6, 104, 2, 30, 'Manual',     'Books',    'EU',   4,  5.00, TIMESTAMP '2024-03-03 08:00'),
    (7, 105, 3, 10, 'Widget Pro', 'Hardware', 'APAC', 1, 10.00, TIMESTAMP '2024-03-03 09:30'),
    (8, 106, 5, 30, 'Manual',     'Books',    'EU',   2,  5.00, TIMESTAMP '2024-03-03 17:45')
) AS lines(sale_id, order_id, customer_id, product_id, product_name, category, region,
           quantity, unit_price, sale_ts);

CREATE TABLE transformation.customer_orders (
    customer_id BIGINT, name VARCHAR, region VARCHAR, order_count BIGINT,
    first_order_ts TIMESTAMP, last_order_ts TIMESTAMP
);
INSERT INTO transformation.customer_orders VALUES
    (1, 'Alice', 'US',   2, '2024-03-01 08:55', '2024-03-02 10:58'),
    (2, 'Bob',   'EU',   2, '2024-03-01 09:58', '2024-03-03 07:59'),
    (3, 'Chen',  'APAC', 2, '2024-03-02 11:59', '2024-03-03 09:29'),
    (4, 'Dana',  'US',   1, '2024-03-02 15:00', '2024-03-02 15:00');

CREATE TABLE transformation.regional_daily_sales (
    date DATE, region VARCHAR, orders BIGINT, units BIGINT, revenue DECIMAL(18,2)
);
INSERT INTO transformation.regional_daily_sales VALUES
    ('2024-03-01', 'US',   1, 3, 25.00),
    ('2024-03-01', 'EU',   1, 1, 30.00),
    ('2024-03-02', 'US',   1, 2, 60.00),
    ('2024-03-02', 'APAC', 1, 3, 30.00),
    ('2024-03-03', 'EU',   2, 6, 30.00),
    ('2024-03-03', 'APAC', 1, 1, 10.00);
"""


@pytest.fixture(params=catalogs())
def warehouse(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WarehouseResource]:
    """A lake holding the seed tables, on each catalog the session covers."""
    with temporary_warehouse(tmp_path / "warehouse", request.param) as lake:
        with lake.get_connection() as conn:
            conn.execute(SEED_SQL)
        yield lake


@pytest.fixture(params=stores())
def exports(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """Where the tests' exports go: a folder and, under ``make test``, a bucket."""
    with temporary_store(tmp_path / "exports", request.param, prefix="exports") as store:
        yield store


@pytest.fixture
def exported(exports: Store) -> Callable[[], list[str]]:
    """The names of the files published so far."""
    return lambda: sorted(f.name for f in exports.list() if f.is_file)


@pytest.fixture
def opened() -> Callable[[str], bytes]:
    """What a person gets at a metadata link (a file:// or a signed http:// URL)."""

    def _open(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (test's own)
            return response.read()

    return _open


@pytest.fixture
def resources(warehouse: WarehouseResource, exports: Store) -> dict[str, object]:
    return {
        "warehouse": warehouse,
        "exports": Exports(root=exports.url),
        "links": PlatformLinks(webserver_url=WEBSERVER_URL + "/"),
    }


@pytest.fixture
def fetch(warehouse: WarehouseResource) -> Callable[[str], list[tuple[Any, ...]]]:
    """Rows of a query against the test warehouse."""

    def run(sql: str) -> list[tuple[Any, ...]]:
        with warehouse.get_connection() as conn:
            return conn.execute(sql).fetchall()

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    drop_crossed_variants(config, items)
