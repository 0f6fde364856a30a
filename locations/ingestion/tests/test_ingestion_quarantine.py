"""Parsing and quarantine rules: exact good and rejected rows for malformed files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, cast

import dagster as dg
import pytest

from ingestion.defs.feeds.assets import customers, orders, products, sales
from ingestion.feeds import CUSTOMERS, ORDERS, PRODUCTS, SALES, Feed

DAY = "2025-01-02"


def header(feed: Feed) -> str:
    return ",".join(feed.columns)


def run(asset: dg.AssetsDefinition, resources: dict[str, Any], partition_key: str | None = None):
    """Invoke ``asset`` directly; returns its materialization and check result."""
    with dg.build_asset_context(partition_key=partition_key, resources=resources) as context:
        events = list(cast(Iterable[Any], asset(context)))
    materialization = next(e for e in events if isinstance(e, dg.MaterializeResult))
    check = next(e for e in events if isinstance(e, dg.AssetCheckResult))
    return materialization, check


def rejected(query, asset: str) -> dict[int, str]:
    rows = query(
        "SELECT line_number, reason FROM ingestion.rejected_rows WHERE asset = ? ORDER BY 1",
        [asset],
    )
    return dict(rows)


MALFORMED_SALES = (
    # A byte-order mark before the header is tolerated.
    b"\xef\xbb\xbf" + header(SALES).encode() + b"\n"
    b"1,10,100,1000,2,9.99,2025-01-02 10:00:00\n"  # 2 good
    b"2,10,100,1001,0,5.00,2025-01-02 10:01:00\n"  # 3 quantity 0
    b"3,10,100,1001,-1,5.00,2025-01-02 10:01:00\n"  # 4 negative quantity
    b"4,10,100,1001,1,-5.00,2025-01-02 10:01:00\n"  # 5 negative price
    b",10,100,1001,1,5.00,2025-01-02 10:01:00\n"  # 6 missing id
    b"6,10,100,1001,1,5.00,yesterday-ish\n"  # 7 bad timestamp
    b"7,10,100,1001,1,5.00,2025-02-30 10:00:00\n"  # 8 impossible date
    b"8,10,100\n"  # 9 too few fields
    b"9,10,100,1001,1,5.00,2025-01-02 10:00:00,extra\n"  # 10 too many fields
    b'10,"10,100,1001,1,5.00,2025-01-02 10:00:00\n'  # 11 unterminated quote
    b"11,ten,100,1001,1,5.00,2025-01-02 10:00:00\n"  # 12 id not a number
    b"12,10,100,1001,1.5,5.00,2025-01-02 10:00:00\n"  # 13 quantity not an integer
    b"13,10,100,1001,1,abc,2025-01-02 10:00:00\n"  # 14 price not a number
    b"1,10,100,1000,2,9.99,2025-01-02 10:00:00\n"  # 15 duplicate of line 2
    b"14,10,100,1001,1,caf\xe9,2025-01-02 10:00:00\n"  # 16 not UTF-8
    b"\n"  # 17 blank: skipped, not a data line
    b'15,"10",100,1001,1,"5.00",2025-01-02T10:02:00\n'  # 18 good, quoted fields
    b"16,10,100,1001,3,0,2025-01-02 10:03:00\r\n"  # 19 good, free item, CRLF
    b"17,,100,1001,0,5.00,noon\n"  # 20 three problems at once
    b"18,10,100,1001,1,5.00,2025-01-02 10:00:00+02\n"  # 21 offset not in the contract
    b"19,10,100,1001,1,5.00,2025-01-02 10:04:00"  # 22 good, no final newline
)

EXPECTED_SALES_REJECTS = {
    3: "quantity is not positive",
    4: "quantity is not positive",
    5: "unit_price is negative",
    6: "missing sale_id",
    7: "sale_ts is not a valid YYYY-MM-DD HH:MM:SS timestamp",
    8: "sale_ts is not a valid YYYY-MM-DD HH:MM:SS timestamp",
    9: "expected 7 fields, found 3",
    10: "expected 7 fields, found 8",
    11: "unparseable CSV line (unbalanced or unterminated quotes)",
    12: "order_id is not a valid id",
    13: "quantity is not an integer",
    14: "unit_price is not an amount with at most 2 decimals",
    15: "duplicate sale_id (first seen on line 2)",
    16: "line is not valid UTF-8",
    20: "missing order_id; quantity is not positive; "
    "sale_ts is not a valid YYYY-MM-DD HH:MM:SS timestamp",
    21: "sale_ts is not a valid YYYY-MM-DD HH:MM:SS timestamp",
}


def test_malformed_sales_file_quarantines_each_bad_line(write, resources, query):
    write(f"sales/{DAY}.csv", MALFORMED_SALES)

    materialization, check = run(sales, resources, DAY)

    assert query("SELECT sale_id FROM ingestion.sales ORDER BY sale_id") == [
        (1,),
        (15,),
        (16,),
        (19,),
    ]
    assert rejected(query, "sales") == EXPECTED_SALES_REJECTS
    metadata = materialization.metadata or {}
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(4)
    assert metadata["rejected_count"] == dg.MetadataValue.int(16)
    assert metadata["data_lines"] == dg.MetadataValue.int(
        20
    )  # good + rejected, the blank line not counted
    assert not check.passed  # 16 of 20 lines is far above 5 %


def test_rejected_rows_record_where_and_what(write, resources, query):
    write(f"sales/{DAY}.csv", MALFORMED_SALES)
    run(sales, resources, DAY)

    rows = query(
        """
        SELECT asset, partition_key, source_file, raw_line, rejected_at
        FROM ingestion.rejected_rows WHERE line_number IN (6, 11, 16) ORDER BY line_number
        """
    )
    assert [r[:4] for r in rows] == [
        ("sales", DAY, f"sales/{DAY}.csv", ",10,100,1001,1,5.00,2025-01-02 10:01:00"),
        ("sales", DAY, f"sales/{DAY}.csv", '10,"10,100,1001,1,5.00,2025-01-02 10:00:00'),
        # Bytes that are not UTF-8 are kept, escaped.
        ("sales", DAY, f"sales/{DAY}.csv", "14,10,100,1001,1,caf\\xE9,2025-01-02 10:00:00"),
    ]
    assert all(isinstance(r[4], dt.datetime) for r in rows)


def test_good_rows_are_typed_and_quoted_fields_unquoted(write, resources, query):
    write(f"sales/{DAY}.csv", MALFORMED_SALES)
    run(sales, resources, DAY)

    assert query("SELECT * FROM ingestion.sales WHERE sale_id IN (15, 16) ORDER BY 1") == [
        (
            15,
            10,
            100,
            1001,
            1,
            Decimal("5.00"),
            dt.datetime(2025, 1, 2, 10, 2),
            dt.date(2025, 1, 2),
        ),
        (
            16,
            10,
            100,
            1001,
            3,
            Decimal("0.00"),
            dt.datetime(2025, 1, 2, 10, 3),
            dt.date(2025, 1, 2),
        ),
    ]


def test_customers_rules(write, resources, query):
    write(
        "customers.csv",
        "\n".join(
            [
                header(CUSTOMERS),
                "1,Ada,ada@example.com,EU,2024-03-01",  # 2 good
                "2,Bob,bob.example.com,US,2024-03-01",  # 3 email without @
                "3,Cy,cy@example.com,LATAM,2024-03-01",  # 4 unknown region
                "4,Di,di@example.com,us,2024-03-01",  # 5 region is case sensitive
                "5,Ed,ed@example.com,APAC,2024-13-01",  # 6 bad date
                "6,,fay@example.com,US,2024-03-01",  # 7 missing name
                "1,Ada again,ada2@example.com,EU,2024-03-02",  # 8 duplicate id
                '7,"Gil, the second",gil@example.com,APAC,2024-03-03',  # 9 good, comma
            ]
        ),
    )

    materialization, check = run(customers, resources)

    assert query("SELECT customer_id, name, region FROM ingestion.customers ORDER BY 1") == [
        (1, "Ada", "EU"),
        (7, "Gil, the second", "APAC"),
    ]
    assert rejected(query, "customers") == {
        3: "email is not an address with one @",
        4: "region is not one of US, EU, APAC",
        5: "region is not one of US, EU, APAC",
        6: "signup_date is not a valid YYYY-MM-DD date",
        7: "missing name",
        8: "duplicate customer_id (first seen on line 2)",
    }
    assert query("SELECT DISTINCT partition_key FROM ingestion.rejected_rows") == [(None,)]
    assert (materialization.metadata or {})["rejected_count"] == dg.MetadataValue.int(6)
    assert not check.passed


def test_products_rules(write, resources, query):
    write(
        "products.csv",
        "\n".join(
            [
                header(PRODUCTS),
                "1,Pen,office,1.50",
                "2,Ink,office,-0.01",
                "3,Pad,office,2.345",
                "4,Cup,,3.00",
                "5,Mug,kitchen,12",
            ]
        ),
    )

    run(products, resources)

    assert query("SELECT product_id, unit_price FROM ingestion.products ORDER BY 1") == [
        (1, Decimal("1.50")),
        (5, Decimal("12.00")),
    ]
    assert rejected(query, "products") == {
        3: "unit_price is negative",
        4: "unit_price is not an amount with at most 2 decimals",
        5: "missing category",
    }


def test_orders_rules(write, resources, query):
    write(
        f"orders/{DAY}.csv",
        "\n".join(
            [
                header(ORDERS),
                "10,100,2025-01-02 09:00:00,completed",
                "11,100,2025-01-02 09:00:00,",
                "12,x,2025-01-02 09:00:00,completed",
                "13,100,2025-01-02 09:00:00,cancelled\x07",
            ]
        )
        + "\n",
    )

    run(orders, resources, DAY)

    assert query("SELECT order_id, order_date FROM ingestion.orders") == [(10, dt.date(2025, 1, 2))]
    assert rejected(query, "orders") == {
        3: "missing status",
        4: "customer_id is not a valid id",
        5: "line contains control characters",
    }


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="zero-bytes"),
        pytest.param(header(SALES).encode() + b"\n", id="header-only"),
        pytest.param(b"\xef\xbb\xbf" + header(SALES).encode() + b"\r\n\r\n", id="bom-crlf-blank"),
    ],
)
def test_empty_file_loads_zero_rows(write, resources, query, content):
    write(f"sales/{DAY}.csv", content)

    materialization, check = run(sales, resources, DAY)

    metadata = materialization.metadata or {}
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(0)
    assert metadata["rejected_count"] == dg.MetadataValue.int(0)
    assert check.passed
    assert query("SELECT count(*) FROM ingestion.rejected_rows") == [(0,)]


def test_wrong_header_fails_and_keeps_current_rows(write, resources, query):
    write(
        f"sales/{DAY}.csv", "\n".join([header(SALES), "1,10,100,1000,2,9.99,2025-01-02 10:00:00"])
    )
    run(sales, resources, DAY)
    write(
        f"sales/{DAY}.csv",
        "id,order,customer,product,qty,price,ts\n2,10,100,1000,2,9.99,2025-01-02 10:00:00\n",
    )

    with pytest.raises(dg.Failure, match="does not match the contract"):
        run(sales, resources, DAY)

    assert query("SELECT sale_id FROM ingestion.sales") == [(1,)]


def test_header_is_case_and_space_insensitive(write, resources, query):
    write(
        f"sales/{DAY}.csv",
        " Sale_ID , order_id,customer_id,product_id,quantity,unit_price,SALE_TS\n"
        "1,10,100,1000,2,9.99,2025-01-02 10:00:00\n",
    )
    run(sales, resources, DAY)
    assert query("SELECT count(*) FROM ingestion.sales") == [(1,)]


def test_file_that_is_not_utf8_at_all_still_loads_its_good_lines(write, resources, query):
    # Latin-1 encoded names: only the lines holding such bytes are refused.
    write(
        "customers.csv",
        header(CUSTOMERS).encode()
        + b"\n1,Ana,ana@example.com,EU,2024-01-01\n2,Jos\xe9,jose@example.com,EU,2024-01-01\n",
    )
    run(customers, resources)
    assert query("SELECT customer_id FROM ingestion.customers") == [(1,)]
    assert rejected(query, "customers") == {3: "line is not valid UTF-8"}
