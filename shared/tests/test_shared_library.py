"""The shared library: settings, naming, validation, metadata, ranges, the warehouse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    MetadataValue,
    PartitionKeyRange,
    TableSchema,
)

from platform_shared import settings
from platform_shared.cross_location import partition_ranges, range_tags, read_materializations
from platform_shared.metadata import markdown_table, table_metadata
from platform_shared.naming import asset_key, table_name
from platform_shared.partitions import daily_partitions, date_region_partitions
from platform_shared.quality import failing_rows_check
from platform_shared.resources import WarehouseResource
from platform_shared.validation import UnsafeInputError, parse_partition_date, resolve_inside


def test_settings_defaults_fill_only_unset_values() -> None:
    env = settings.with_defaults({"WAREHOUSE_PATH": "elsewhere.duckdb", "LANDING_DIR": ""})
    assert env["WAREHOUSE_PATH"] == "elsewhere.duckdb"
    assert env["LANDING_DIR"] == "data/landing"
    assert settings.default("WAREHOUSE_PATH") == "data/warehouse/analytics.duckdb"
    with pytest.raises(KeyError, match="unknown setting"):
        settings.env("WAREHOUSE_PTH")


def test_naming_maps_keys_to_quoted_tables() -> None:
    key = asset_key("ingestion", "sales")
    assert key == AssetKey(["ingestion", "sales"])
    assert table_name(key) == '"ingestion"."sales"'
    with pytest.raises(ValueError, match="not \\[location, name\\]"):
        table_name(AssetKey(["sales"]))


@pytest.mark.parametrize(
    "key",
    ["2024-01-01'); DROP TABLE x;--", "2024-1-1", "2024-02-30", "", "../2024-01-01"],
)
def test_partition_dates_are_strict(key: str) -> None:
    with pytest.raises(UnsafeInputError):
        parse_partition_date(key)


def test_resolve_inside_rejects_escapes(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    (root / "sales").mkdir(parents=True)
    outside = tmp_path / "secret.csv"
    outside.write_text("x")
    (root / "sales" / "2025-01-01.csv").symlink_to(outside)
    assert resolve_inside(root, "sales/2025-01-02.csv") == (root / "sales/2025-01-02.csv").resolve()
    for name in ["../secret.csv", "/etc/passwd", "sales/2025-01-01.csv", "sales/a\nb.csv", ""]:
        with pytest.raises(UnsafeInputError):
            resolve_inside(root, name)


def test_table_metadata_scopes_to_a_partition(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "m.duckdb")) as conn:
        conn.execute("CREATE TABLE t (d DATE, amount DECIMAL(12, 2), note VARCHAR)")
        conn.execute(
            "INSERT INTO t VALUES ('2025-01-01', 1.5, 'a|b'), ('2025-01-02', 2, 'c'), "
            "('2025-01-02', 3, 'd')"
        )
        meta = table_metadata(
            conn,
            "t",
            where="d = ?",
            params=["2025-01-02"],
            order_by="amount",
            table_preview=True,
        )
    assert meta["dagster/row_count"] == MetadataValue.int(2)
    assert meta["schema"].value == {"d": "date", "amount": "decimal", "note": "string"}
    assert isinstance(meta["dagster/column_schema"], TableSchema)
    assert "| d | amount | note |" in meta["preview"].value
    records = meta["table_preview"].value.records
    assert [r.data["note"] for r in records] == ["c", "d"]


def test_markdown_escapes_pipes() -> None:
    assert markdown_table(["a"], [["x|y"]]).splitlines()[-1] == "| x\\|y |"


def test_failing_rows_check_reports_count_and_sample(tmp_path: Path) -> None:
    with duckdb.connect() as conn:
        conn.execute(
            "CREATE TABLE s AS SELECT * FROM (VALUES (1, -2.0), (2, 3.0), (3, -1.0)) v(id, x)"
        )
        result = failing_rows_check(conn, "SELECT * FROM s WHERE x < ?", [0], check_name="pos")
        clean = failing_rows_check(conn, "SELECT * FROM s WHERE x < ?", [-5])
    assert not result.passed
    assert result.metadata["failing_count"] == MetadataValue.int(2)
    assert "| 1 | -2.0 |" in str(result.metadata["failing_sample"].value)
    assert clean.passed
    assert "failing_sample" not in clean.metadata


def test_partition_ranges_are_bounded_and_cover_every_key() -> None:
    keys = list(daily_partitions.get_partition_keys()[:365])
    scattered = keys[0:10] + keys[20:30] + keys[31:40] + keys[100:365]
    ranges = partition_ranges(scattered, daily_partitions, max_ranges=2)
    assert ranges == [
        PartitionKeyRange(keys[0], keys[39]),
        PartitionKeyRange(keys[100], keys[364]),
    ]
    assert partition_ranges(keys[5:6], daily_partitions, max_ranges=3) == [
        PartitionKeyRange(keys[5], keys[5])
    ]
    assert partition_ranges([], daily_partitions, max_ranges=3) == []
    assert range_tags(ranges[0]) == {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[39],
    }


def test_read_materializations_advances_a_per_key_cursor() -> None:
    from dagster import AssetMaterialization

    instance = DagsterInstance.ephemeral()
    sales, orders = AssetKey(["ingestion", "sales"]), AssetKey(["ingestion", "orders"])
    for day in ["2025-01-01", "2025-01-02"]:
        instance.report_runless_asset_event(AssetMaterialization(sales, partition=day))
    instance.report_runless_asset_event(AssetMaterialization(orders, partition="2025-01-01"))
    first = read_materializations(instance, [sales, orders], None)
    assert first.partitions == {"2025-01-01", "2025-01-02"}
    assert len(first.records) == 3
    again = read_materializations(instance, [sales, orders], first.cursor)
    assert again.records == []
    instance.report_runless_asset_event(AssetMaterialization(sales, partition="2025-01-03"))
    third = read_materializations(instance, [sales, orders], again.cursor)
    assert third.partitions == {"2025-01-03"}


def test_multi_partitions_share_the_daily_definition() -> None:
    date_dim = date_region_partitions.get_partitions_def_for_dimension("date")
    assert date_dim == daily_partitions


def test_transaction_rolls_back_and_releases_the_file(tmp_path: Path) -> None:
    warehouse = WarehouseResource(database=str(tmp_path / "w.duckdb"))
    with warehouse.transaction() as conn:
        conn.execute("CREATE TABLE t (x INT)")
        conn.execute("INSERT INTO t VALUES (1)")

    def failing_write() -> None:
        with warehouse.transaction() as conn:
            conn.execute("DELETE FROM t")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    # The failed block closed its connection: another process can lock the file now.
    with duckdb.connect(str(tmp_path / "w.duckdb")) as other:
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_overlapping_writers_from_separate_processes_never_fail(tmp_path: Path) -> None:
    """Three processes materialize into one DuckDB file at once, as runs of different
    locations do; none may fail on the file lock and every partition lands once."""
    database = str(tmp_path / "shared.duckdb")
    writer = Path(__file__).with_name("overlapping_writer.py")
    procs = [
        subprocess.Popen([sys.executable, str(writer), database, str(w), "20"]) for w in range(3)
    ]
    assert [p.wait(180) for p in procs] == [0, 0, 0]
    with duckdb.connect(database) as conn:
        rows = conn.execute(
            "SELECT writer, count(DISTINCT p), count(*), count(DISTINCT pid) FROM w "
            "GROUP BY writer ORDER BY writer"
        ).fetchall()
    pids = {row[3] for row in rows}
    assert [(w, parts, n) for w, parts, n, _ in rows] == [
        (0, 20, 2000),
        (1, 20, 2000),
        (2, 20, 2000),
    ]
    assert pids == {1}


def test_a_warehouse_file_named_like_a_schema_is_unambiguous(tmp_path: Path) -> None:
    """The default file is analytics.duckdb while analytics is also a schema in it."""
    warehouse = WarehouseResource(database=str(tmp_path / "analytics.duckdb"))
    with warehouse.transaction() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute("CREATE OR REPLACE TABLE analytics.t AS SELECT 42 AS x")
    with warehouse.get_connection() as conn:
        assert conn.execute("SELECT x FROM analytics.t").fetchall() == [(42,)]


def test_warehouse_memory_limit_spills_beside_the_warehouse_file(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    warehouse = WarehouseResource(database=str(database), memory_limit="100MB")
    with warehouse.get_connection() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('memory_limit', 'temp_directory')"
            ).fetchall()
        )
        # A sort four times the limit completes by spilling instead of failing.
        rows = conn.execute(
            "SELECT count(*) FROM (SELECT i, md5(i::VARCHAR) AS h FROM range(4000000) t(i) "
            "ORDER BY h)"
        ).fetchone()
    assert settings["memory_limit"] in {"95.3 MiB", "100.0 MB"}, settings
    assert settings["temp_directory"] == f"{database}.tmp"
    assert rows == (4_000_000,)
