"""The sample data generator: deterministic, on contract, broken only on request."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_shared.sample_data import (
    CUSTOMERS_HEADER,
    ORDERS_HEADER,
    SALES_HEADER,
    SampleSpec,
    deliver,
    generate,
)
from platform_shared.storage import Store
from platform_shared.testing import stores, temporary_store


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.csv"))
    }


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    spec = SampleSpec(days=3, sales_rows=300, bad_fraction=0.1)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, spec)
    generate(b, spec)
    generate(c, SampleSpec(days=3, sales_rows=300, bad_fraction=0.1, seed=7))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert sorted(_digest(a)) == [
        "customers.csv",
        "orders/2025-01-01.csv",
        "orders/2025-01-02.csv",
        "orders/2025-01-03.csv",
        "products.csv",
        "sales/2025-01-01.csv",
        "sales/2025-01-02.csv",
        "sales/2025-01-03.csv",
    ]
    assert not list(a.rglob(".*"))  # temporary names were renamed away


def test_clean_files_follow_the_contract(tmp_path: Path) -> None:
    spec = SampleSpec(start=dt.date(2025, 3, 1), days=2, sales_rows=600, customers=40)
    generate(tmp_path, spec)
    sales = (tmp_path / "sales" / "2025-03-02.csv").read_text().splitlines()
    assert sales[0] == SALES_HEADER
    assert len(sales) == 1 + spec.sales_per_day
    rows = list(csv.reader(sales[1:]))
    assert all(len(r) == 7 and int(r[4]) > 0 and r[6].startswith("2025-03-02") for r in rows)
    assert len({r[0] for r in rows}) == len(rows)
    customers = (tmp_path / "customers.csv").read_text().splitlines()
    assert customers[0] == CUSTOMERS_HEADER
    assert len(customers) == 41
    assert all("@" in line.split(",")[2] for line in customers[1:])
    orders = (tmp_path / "orders" / "2025-03-02.csv").read_text().splitlines()
    assert orders[0] == ORDERS_HEADER
    order_ids = {r[1] for r in rows}
    assert {line.split(",")[0] for line in orders[1:]} == order_ids


def test_bad_fraction_breaks_that_share_of_sales_lines_only(tmp_path: Path) -> None:
    generate(tmp_path, SampleSpec(days=1, sales_rows=4000, bad_fraction=0.05))
    lines = (tmp_path / "sales" / "2025-01-01.csv").read_text().splitlines()[1:]

    def broken(line: str) -> bool:
        fields = line.split(",")
        return len(fields) != 7 or not fields[0] or int(fields[4]) <= 0 or "ish" in fields[6]

    share = sum(broken(line) for line in lines) / len(lines)
    assert 0.03 < share < 0.07
    customers = (tmp_path / "customers.csv").read_text().splitlines()[1:]
    assert all("@" in c.split(",")[2] for c in customers)


@pytest.fixture(params=stores())
def landing(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    with temporary_store(tmp_path / "landing", request.param) as location:
        yield location


def test_delivery_keeps_what_is_there_and_writes_the_rest_once(
    landing: Store, tmp_path: Path
) -> None:
    spec = SampleSpec(days=2, sales_rows=60, customers=10, products=5)
    # A team's own delivery under a name the sample also writes.
    landing.put_bytes("sales/2025-01-01.csv", b"the team's file\n")

    written = deliver(landing.url, spec, keep_existing=True)

    reference = tmp_path / "reference"
    names = sorted(p.relative_to(reference).as_posix() for p in generate(reference, spec))
    assert len(names) == 2 + 2 * 2
    assert sorted(written) == [n for n in names if n != "sales/2025-01-01.csv"]
    with landing.open("sales/2025-01-01.csv") as kept:
        assert kept.read() == b"the team's file\n"
    with landing.open("customers.csv") as customers:
        assert customers.read() == (reference / "customers.csv").read_bytes()
    # Delivering again finds every file there: nothing written, nothing changed.
    versions = {f.name: f.version for f in landing.list("sales")}
    assert deliver(landing.url, spec, keep_existing=True) == []
    assert {f.name: f.version for f in landing.list("sales")} == versions
