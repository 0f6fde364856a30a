"""Fixtures: a temporary warehouse holding ingestion's tables with a small known input.

The ingestion tables are created here from the contract (names, columns and types), not
by the ingestion location's code: these tests exercise transformation alone.

The input, three days of sales by four customers in three regions:

    day         sale  order  customer (region)  product  qty  price  revenue
    2025-01-01   1    100    1 (US)             10        2   2.50    5.00
    2025-01-01   2    100    1 (US)             11        1  10.00   10.00
    2025-01-01   3    101    2 (EU)             10        4   2.50   10.00
    2025-01-02   4    102    2 (EU)             11        3  10.00   30.00
    2025-01-02   5    103    3 (APAC)           10        1   2.40    2.40
    2025-01-03   6    104    1 (US)             11        2   9.99   19.98
    2025-01-03   7    104    1 (US)             10        1   2.50    2.50
    2025-01-03   8    105    3 (APAC)           11        1  10.00   10.00

Customer 4 (US) and 5 (EU, no address) never ordered.
"""

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import dagster as dg
import pytest

from platform_shared.resources import WarehouseResource
from platform_shared.settings import default
from platform_shared.testing import catalogs, settings_of, temporary_warehouse
from transformation.definitions import defs

INGESTION_DDL = """
CREATE SCHEMA IF NOT EXISTS ingestion;
CREATE TABLE ingestion.customers (
    customer_id BIGINT, name VARCHAR, email VARCHAR, region VARCHAR, signup_date DATE
);
CREATE TABLE ingestion.products (
    product_id BIGINT, name VARCHAR, category VARCHAR, unit_price DECIMAL(12,2)
);
CREATE TABLE ingestion.orders (
    order_id BIGINT, customer_id BIGINT, order_ts TIMESTAMP, status VARCHAR, order_date DATE
);
CREATE TABLE ingestion.sales (
    sale_id BIGINT, order_id BIGINT, customer_id BIGINT, product_id BIGINT,
    quantity INTEGER, unit_price DECIMAL(12,2), sale_ts TIMESTAMP, sale_date DATE
);
"""

INGESTION_ROWS = """
INSERT INTO ingestion.customers VALUES
    (1, 'Ann Lee',  '  Ann.Lee@Example.COM ', 'US',   '2024-03-01'),
    (2, 'Bob Brun', 'bob@shop.eu',            'EU',   '2024-05-10'),
    (3, 'Chen Wei', 'chen@mail.example.cn',   'APAC', '2024-06-15'),
    (4, 'Dee Diaz', 'dee@example.com',        'US',   '2024-07-01'),
    (5, 'Eve Noel', NULL,                     'EU',   '2024-08-01');
INSERT INTO ingestion.products VALUES
    (10, 'Widget', 'Tools', 2.50),
    (11, 'Gadget', 'Toys', 10.00);
INSERT INTO ingestion.orders VALUES
    (100, 1, '2025-01-01 09:00:00', 'completed', '2025-01-01'),
    (101, 2, '2025-01-01 12:00:00', 'completed', '2025-01-01'),
    (102, 2, '2025-01-02 08:30:00', 'completed', '2025-01-02'),
    (103, 3, '2025-01-02 17:45:00', 'shipped',   '2025-01-02'),
    (104, 1, '2025-01-03 10:15:00', 'completed', '2025-01-03'),
    (105, 3, '2025-01-03 11:00:00', 'cancelled', '2025-01-03');
INSERT INTO ingestion.sales VALUES
    (1, 100, 1, 10, 2,  2.50, '2025-01-01 09:00:00', '2025-01-01'),
    (2, 100, 1, 11, 1, 10.00, '2025-01-01 09:00:00', '2025-01-01'),
    (3, 101, 2, 10, 4,  2.50, '2025-01-01 12:00:00', '2025-01-01'),
    (4, 102, 2, 11, 3, 10.00, '2025-01-02 08:30:00', '2025-01-02'),
    (5, 103, 3, 10, 1,  2.40, '2025-01-02 17:45:00', '2025-01-02'),
    (6, 104, 1, 11, 2,  9.99, '2025-01-03 10:15:00', '2025-01-03'),
    (7, 104, 1, 10, 1,  2.50, '2025-01-03 10:15:00', '2025-01-03'),
    (8, 105, 3, 11, 1, 10.00, '2025-01-03 11:00:00', '2025-01-03');
"""

RunJob = Callable[..., dg.ExecuteInProcessResult]
Sql = Callable[..., list[tuple]]


@pytest.fixture(params=catalogs())
def warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[WarehouseResource]:
    """An empty lake (on each catalog the session covers), also what the location's
    resources resolve at run time."""
    with temporary_warehouse(tmp_path / "warehouse", request.param) as lake:
        for name, value in settings_of(lake).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("WAREHOUSE_MEMORY_LIMIT", default("WAREHOUSE_MEMORY_LIMIT"))
        yield lake


@pytest.fixture
def seeded(warehouse: WarehouseResource) -> WarehouseResource:
    with warehouse.get_connection() as conn:
        conn.execute(INGESTION_DDL)
        conn.execute(INGESTION_ROWS)
    return warehouse


@pytest.fixture
def sql(warehouse: WarehouseResource) -> Sql:
    """Run one statement on a short-lived connection; rows of a query, [] otherwise."""

    def run(statement: str, params: object = None) -> list[tuple]:
        with warehouse.get_connection() as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    return run


@pytest.fixture
def add_sale(sql: Sql) -> Callable[..., None]:
    """Add one line to ingestion.sales (sold at noon of ``day``)."""

    def add(
        sale_id: int,
        order_id: int,
        customer_id: int,
        product_id: int,
        quantity: int,
        unit_price: str,
        day: str,
    ) -> None:
        sql(
            "INSERT INTO ingestion.sales VALUES (?, ?, ?, ?, ?, ?::DECIMAL(12,2), ?, ?)",
            [sale_id, order_id, customer_id, product_id, quantity, unit_price, f"{day} 12:00", day],
        )

    return add


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def run_job(instance: dg.DagsterInstance) -> RunJob:
    """Execute one of the location's jobs with its real resources (from the environment)."""

    def run(
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        partition_key: str | None = None,
        asset_selection: list[dg.AssetKey] | None = None,
    ) -> dg.ExecuteInProcessResult:
        return defs.resolve_job_def(name).execute_in_process(
            instance=instance,
            tags=dict(tags or {}),
            partition_key=partition_key,
            asset_selection=asset_selection,
            raise_on_error=False,
        )

    return run
