"""The landing-zone contract: which files feed which table, and how they are named.

Daily feeds deliver ``<folder>/YYYY-MM-DD.csv``, the date being the partition; reference
feeds deliver one snapshot file at the root of the landing zone (a folder, or a bucket
prefix whose ``/``-separated keys read the same). Every name read from the landing zone
is checked here before it reaches the file system, the object store or SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dagster import AssetKey

from ingestion.keys import LOCATION
from platform_shared.naming import asset_key, table_name
from platform_shared.validation import UnsafeInputError, parse_partition_date

# The only name a daily file may have. Anything else in a feed folder is a temporary file
# (ignored quietly) or a stray name (skipped with a warning).
DAILY_FILE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.csv")
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", "~")


@dataclass(frozen=True)
class Feed:
    """One landing feed and the table it loads.

    ``columns`` is the header the file must have; ``partition_column`` (daily feeds only)
    is the table column holding the file's date; ``folder`` is where daily files land,
    ``file_name`` the snapshot file of a reference feed.
    """

    name: str
    columns: tuple[str, ...]
    partition_column: str | None = None
    folder: str | None = None
    file_name: str | None = None

    @property
    def key(self) -> AssetKey:
        return asset_key(LOCATION, self.name)

    @property
    def table(self) -> str:
        """Quoted ``"ingestion"."<name>"`` for SQL."""
        return table_name(self.key)

    @property
    def table_label(self) -> str:
        """``ingestion.<name>`` for people."""
        return f"{LOCATION}.{self.name}"

    @property
    def is_daily(self) -> bool:
        return self.partition_column is not None

    def relative_path(self, partition_key: str | None = None) -> str:
        """The file's path relative to the landing folder (validated partition key)."""
        if self.folder is None:
            assert self.file_name is not None
            return self.file_name
        if partition_key is None:
            raise ValueError(f"feed {self.name} needs a partition key")
        day = parse_partition_date(partition_key)
        return f"{self.folder}/{day.isoformat()}.csv"


CUSTOMERS = Feed(
    name="customers",
    columns=("customer_id", "name", "email", "region", "signup_date"),
    file_name="customers.csv",
)
PRODUCTS = Feed(
    name="products",
    columns=("product_id", "name", "category", "unit_price"),
    file_name="products.csv",
)
ORDERS = Feed(
    name="orders",
    columns=("order_id", "customer_id", "order_ts", "status"),
    partition_column="order_date",
    folder="orders",
)
SALES = Feed(
    name="sales",
    columns=(
        "sale_id",
        "order_id",
        "customer_id",
        "product_id",
        "quantity",
        "unit_price",
        "sale_ts",
    ),
    partition_column="sale_date",
    folder="sales",
)

DAILY_FEEDS = (ORDERS, SALES)
REFERENCE_FEEDS = (CUSTOMERS, PRODUCTS)


def is_temporary_name(name: str) -> bool:
    """Names writers use while a file is incomplete (dotfiles, ``.tmp``, ``.part``, ``~``)."""
    return name.startswith(".") or name.endswith(_TEMP_SUFFIXES)


def partition_of(name: str) -> str:
    """The partition key of a daily file name, or ``UnsafeInputError``."""
    match = DAILY_FILE_NAME.fullmatch(name)
    if match is None:
        raise UnsafeInputError(f"file name {name!r} is not YYYY-MM-DD.csv")
    return parse_partition_date(match.group(1)).isoformat()
