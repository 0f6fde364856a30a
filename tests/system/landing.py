"""Files the system tests drop into the landing folder, and the values expected from them.

The expected values are computed here in Python from the rows the tests write, without
any of the platform's code, so the comparison checks the platform end to end.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

CUSTOMERS = [
    (1, "Ann", "ann@example.com", "US", "2024-01-05"),
    (2, "Bo", "bo@example.com", "EU", "2024-02-11"),
    (3, "Chen", "chen@example.com", "APAC", "2024-03-20"),
    (4, "Dee", "dee@example.com", "US", "2024-04-02"),
]
PRODUCTS = [
    (1, "Lamp", "home", Decimal("19.99")),
    (2, "Desk", "office", Decimal("120.00")),
    (3, "Pen", "office", Decimal("1.50")),
]
REGION = {c[0]: c[3] for c in CUSTOMERS}
PRICE = {p[0]: p[3] for p in PRODUCTS}


def deliver(path: Path, text: str) -> None:
    """Write under a temporary name and rename, as a well-behaved feed does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def reference_files() -> dict[str, str]:
    """customers.csv and products.csv: name to text."""
    return {
        "customers.csv": "customer_id,name,email,region,signup_date\n"
        + "".join(f"{c[0]},{c[1]},{c[2]},{c[3]},{c[4]}\n" for c in CUSTOMERS),
        "products.csv": "product_id,name,category,unit_price\n"
        + "".join(f"{p[0]},{p[1]},{p[2]},{p[3]}\n" for p in PRODUCTS),
    }


def deliver_reference(landing: Path) -> None:
    for name, text in reference_files().items():
        deliver(landing / name, text)


@dataclass
class Day:
    """One day of orders and sales: ``good`` sale rows plus deliberately bad lines."""

    date: str
    first_id: int
    lines: int = 60
    bump_quantity_of: int | None = None  # a corrected re-delivery changes one line
    sales: list[tuple[int, int, int, int, int, Decimal, str]] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i in range(self.lines):
            sale_id = self.first_id + i
            order_id = self.first_id + i // 3
            customer = 1 + (order_id % len(CUSTOMERS))
            product = 1 + i % len(PRODUCTS)
            quantity = 1 + i % 4 + (5 if i == self.bump_quantity_of else 0)
            ts = f"{self.date} 10:{i % 60:02d}:00"
            self.sales.append((sale_id, order_id, customer, product, quantity, PRICE[product], ts))
        base = self.first_id + self.lines
        self.bad_lines = [
            f"{base},{base},1,1,0,19.99,{self.date} 11:00:00",  # quantity must be > 0
            f"{base + 1},{base},1,1,2,19.99,not-a-timestamp",  # unparseable timestamp
        ]

    def sales_csv(self) -> str:
        header = "sale_id,order_id,customer_id,product_id,quantity,unit_price,sale_ts\n"
        rows = "".join(",".join(str(v) for v in row) + "\n" for row in self.sales)
        return header + rows + "".join(line + "\n" for line in self.bad_lines)

    def orders_csv(self) -> str:
        seen: dict[int, tuple[int, str]] = {}
        for _, order_id, customer, _, _, _, ts in self.sales:
            seen.setdefault(order_id, (customer, ts))
        return "order_id,customer_id,order_ts,status\n" + "".join(
            f"{o},{c},{ts},completed\n" for o, (c, ts) in sorted(seen.items())
        )

    def deliver(self, landing: Path) -> None:
        deliver(landing / "orders" / f"{self.date}.csv", self.orders_csv())
        deliver(landing / "sales" / f"{self.date}.csv", self.sales_csv())

    def regional(self) -> dict[str, tuple[int, int, Decimal]]:
        """Region to (orders, units, revenue) for this day's good rows."""
        orders: dict[str, set[int]] = defaultdict(set)
        units: dict[str, int] = defaultdict(int)
        revenue: dict[str, Decimal] = defaultdict(Decimal)
        for _, order_id, customer, _, quantity, price, _ in self.sales:
            region = REGION[customer]
            orders[region].add(order_id)
            units[region] += quantity
            revenue[region] += quantity * price
        return {r: (len(orders[r]), units[r], revenue[r]) for r in orders}
