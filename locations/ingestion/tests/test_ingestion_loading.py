"""Loading several files in one set of statements: each file keeps its own outcome."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from ingestion.defs.feeds import SQL, file_loader
from ingestion.defs.feeds.assets import sales
from ingestion.defs.feeds.file_loader import BadFileError, Target, batches, load_files, prepare
from ingestion.feeds import CUSTOMERS, ORDERS, PRODUCTS, SALES
from platform_shared.cross_location import range_tags

HEADER = ",".join(SALES.columns)
NOW = dt.datetime(2025, 1, 10, 12, 0)


def sale(sale_id: int, day: str, quantity: int = 1) -> str:
    return f"{sale_id},{sale_id},7,3,{quantity},2.50,{day} 10:00:00"


def target(write: Callable[..., Any], day: str, content: str | bytes) -> Target:
    relative = f"sales/{day}.csv"
    delivered = write(relative, content)
    return Target(day, relative, delivered.reference, len(delivered.data))


@pytest.fixture
def conn(warehouse):
    with warehouse.get_connection() as connection:
        prepare(connection)
        yield connection


def test_each_file_of_a_batch_keeps_its_counts_lines_and_reasons(write, conn):
    contents: dict[str, str | bytes] = {
        # sale_id 1 on both days: ids are unique per file (per day), not across files.
        "2025-01-01": f"{HEADER}\n{sale(1, '2025-01-01')}\n{sale(2, '2025-01-01')}\n",
        "2025-01-02": f"{HEADER}\n{sale(1, '2025-01-02')}\n\n{sale(1, '2025-01-02')}\n"
        f"{sale(3, '2025-01-02', quantity=0)}\n",
        "2025-01-03": b"",
        # Not UTF-8 as a whole: only its bad line is refused, the others in the batch are not.
        "2025-01-04": f"{HEADER}\n{sale(9, '2025-01-04')}\n".encode() + b"\xff,1\n",
    }
    files = [target(write, day, content) for day, content in contents.items()]

    loads = load_files(conn, SALES, files, rejected_at=NOW)

    outcome = [(x.source_file, x.data_lines, x.loaded, x.rejected, x.blank_lines) for x in loads]
    assert outcome == [
        ("sales/2025-01-01.csv", 2, 2, 0, 0),
        ("sales/2025-01-02.csv", 3, 1, 2, 1),
        ("sales/2025-01-03.csv", 0, 0, 0, 0),
        ("sales/2025-01-04.csv", 2, 1, 1, 0),
    ]
    assert loads[1].top_reasons == {
        "duplicate sale_id (first seen on line 2)": 1,
        "quantity is not positive": 1,
    }
    assert [x.sha256 for x in loads] == [
        hashlib.sha256(c if isinstance(c, bytes) else c.encode()).hexdigest()
        for c in contents.values()
    ]
    assert conn.execute(
        "SELECT sale_date::VARCHAR, list(sale_id ORDER BY sale_id) FROM ingestion.sales "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall() == [("2025-01-01", [1, 2]), ("2025-01-02", [1]), ("2025-01-04", [9])]
    assert conn.execute(
        "SELECT partition_key, source_file, line_number, reason FROM ingestion.rejected_rows "
        "ORDER BY partition_key, line_number"
    ).fetchall() == [
        ("2025-01-02", "sales/2025-01-02.csv", 4, "duplicate sale_id (first seen on line 2)"),
        ("2025-01-02", "sales/2025-01-02.csv", 5, "quantity is not positive"),
        ("2025-01-04", "sales/2025-01-04.csv", 3, "line is not valid UTF-8"),
    ]


def test_reloading_a_batch_replaces_only_its_partitions(write, conn):
    other = target(write, "2025-01-05", f"{HEADER}\n{sale(5, '2025-01-05', quantity=0)}\n")
    load_files(conn, SALES, [other], rejected_at=NOW)
    batch = [
        target(write, "2025-01-01", f"{HEADER}\n{sale(1, '2025-01-01', quantity=-1)}\n"),
        target(write, "2025-01-02", f"{HEADER}\n{sale(2, '2025-01-02')}\n"),
    ]
    load_files(conn, SALES, batch, rejected_at=NOW)
    batch[0] = target(write, "2025-01-01", f"{HEADER}\n{sale(1, '2025-01-01')}\n")

    load_files(conn, SALES, batch, rejected_at=NOW)
    load_files(conn, SALES, batch, rejected_at=NOW)

    assert conn.execute("SELECT sale_id FROM ingestion.sales ORDER BY 1").fetchall() == [
        (1,),
        (2,),
    ]
    assert conn.execute("SELECT partition_key FROM ingestion.rejected_rows").fetchall() == [
        ("2025-01-05",)
    ]


def test_a_wrong_header_anywhere_in_the_batch_names_that_file(write, conn):
    batch = [
        target(write, "2025-01-01", f"{HEADER}\n{sale(1, '2025-01-01')}\n"),
        target(write, "2025-01-02", f"id,{HEADER}\n1,{sale(2, '2025-01-02')}\n"),
    ]
    with pytest.raises(BadFileError, match=r"^sales/2025-01-02\.csv: header"):
        load_files(conn, SALES, batch, rejected_at=NOW)


def test_a_partition_twice_in_one_batch_is_refused(write, conn):
    once = target(write, "2025-01-01", f"{HEADER}\n")
    with pytest.raises(ValueError, match="appears twice"):
        load_files(conn, SALES, [once, once], rejected_at=NOW)


def test_batches_keep_order_and_cut_by_size(write):
    files = [target(write, f"2025-01-0{i}", "x" * size) for i, size in enumerate([4, 4, 9, 1], 1)]
    cut = [[t.partition_key for t in batch] for batch in batches(files, limit=8)]
    # A file larger than the limit is a batch of its own; nothing is dropped or reordered.
    assert cut == [["2025-01-01", "2025-01-02"], ["2025-01-03"], ["2025-01-04"]]


def test_a_range_over_several_batches_is_one_transaction(write, resources, query, monkeypatch):
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    for i, day in enumerate(days, 1):
        write(f"sales/{day}.csv", f"{HEADER}\n{sale(i, day)}\n")
    monkeypatch.setattr(file_loader, "BATCH_BYTES", 1)  # one file per batch
    tags = range_tags(dg.PartitionKeyRange(days[0], days[-1]))
    dg.materialize([sales], resources=resources, tags=tags)
    assert query("SELECT count(*) FROM ingestion.sales") == [(3,)]
    # The last batch's file breaks the contract: the earlier batches roll back with it.
    for i, day in enumerate(days, 10):
        write(f"sales/{day}.csv", f"{HEADER}\n{sale(i, day)}\n")
    write(f"sales/{days[-1]}.csv", f"wrong,header\n{sale(99, days[-1])}\n")

    result = dg.materialize([sales], resources=resources, tags=tags, raise_on_error=False)

    assert not result.success
    assert query("SELECT sale_id FROM ingestion.sales ORDER BY 1") == [(1,), (2,), (3,)]


@pytest.mark.parametrize("feed", [CUSTOMERS, PRODUCTS, ORDERS, SALES], ids=lambda f: f.name)
def test_each_staging_query_splits_lines_into_its_feeds_columns(feed):
    assert f"FROM landing_fields({len(feed.columns)})" in SQL.query(f"stage_{feed.name}")
