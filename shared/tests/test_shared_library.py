"""The shared library: settings, naming, validation, metadata, ranges, the warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
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
from platform_shared.lake import (
    Catalog,
    MissingExtensionError,
    WarehouseConflictError,
    extension_file,
)
from platform_shared.metadata import markdown_table, table_metadata
from platform_shared.naming import asset_key, table_name, write_scope
from platform_shared.partitions import daily_partitions, date_region_partitions
from platform_shared.quality import failing_rows_check
from platform_shared.resources import Committed, WarehouseResource
from platform_shared.testing import catalogs, settings_of, temporary_warehouse
from platform_shared.validation import UnsafeInputError, parse_partition_date, resolve_inside


def test_settings_defaults_fill_only_unset_values() -> None:
    env = settings.with_defaults({"WAREHOUSE_CATALOG": "sqlite:elsewhere.db", "LANDING_URL": ""})
    assert env["WAREHOUSE_CATALOG"] == "sqlite:elsewhere.db"
    assert env["LANDING_URL"] == "data/landing"
    assert settings.default("WAREHOUSE_CATALOG") == "sqlite:data/warehouse/catalog.sqlite"
    with pytest.raises(KeyError, match="unknown setting"):
        settings.env("WAREHOUSE_PTH")


def test_naming_maps_keys_to_quoted_tables() -> None:
    key = asset_key("ingestion", "sales")
    assert key == AssetKey(["ingestion", "sales"])
    assert table_name(key) == '"ingestion"."sales"'
    with pytest.raises(ValueError, match="not \\[location, name\\]"):
        table_name(AssetKey(["sales"]))
    assert write_scope("ingestion.customers") == "ingestion.customers"
    assert write_scope("t", "2025-01-01", "2025-01-01") == "t partitions 2025-01-01"
    assert write_scope("t", "2025-01-01", "2025-01-31") == "t partitions 2025-01-01..2025-01-31"


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


@pytest.fixture(params=catalogs())
def lake(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WarehouseResource]:
    with temporary_warehouse(tmp_path, request.param) as warehouse:
        yield warehouse


def test_secrets_come_from_the_variable_or_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "WAREHOUSE_CATALOG_PASSWORD"
    monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(f"{name}_FILE", raising=False)
    assert settings.secret(name) is None
    (tmp_path / "pw").write_text("from-file\n")
    monkeypatch.setenv(f"{name}_FILE", str(tmp_path / "pw"))
    assert settings.secret(name) == "from-file"
    monkeypatch.setenv(name, "from-env")
    assert settings.secret(name) == "from-env"
    with pytest.raises(KeyError, match="unknown secret"):
        settings.secret("WAREHOUSE_PASSWORD")


def test_catalog_setting_is_checked_and_never_holds_a_password() -> None:
    assert Catalog.parse("postgres:dbname=lake host=db").extension == "postgres_scanner"
    assert Catalog.parse("sqlite:lake.sqlite").target == str(Path("lake.sqlite").absolute())
    for bad in ["lake.sqlite", "mysql:x", "sqlite:", "postgres:dbname=x password=hunter2"]:
        with pytest.raises(ValueError, match="warehouse catalog"):
            Catalog.parse(bad)


def test_a_missing_extension_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda _name: None)
    with pytest.raises(MissingExtensionError, match=r"duckdb-extension-postgres-scanner==1\.5\.5"):
        extension_file("postgres_scanner")


def test_a_process_attaches_the_lake_once_until_a_transient_error(
    lake: WarehouseResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    attached: list[str] = []
    attach_once = WarehouseResource._attach

    def counted(self: WarehouseResource) -> duckdb.DuckDBPyConnection:
        attached.append(self.catalog)
        return attach_once(self)

    monkeypatch.setattr(WarehouseResource, "_attach", counted)
    lake._forget()  # set-up connections attached it already
    with lake.get_connection() as one, lake.get_connection() as two:
        one.execute("CREATE TEMP TABLE mine AS SELECT 1 AS x")
        # Connections share the attachment, not their temporary tables.
        found = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'"
        assert one.execute(found).fetchone() == (1,)
        assert two.execute(found).fetchone() == (0,)
    assert len(attached) == 1
    with pytest.raises(RuntimeError), lake.get_connection():
        raise RuntimeError("a bug in the caller, not the catalog's doing")
    with lake.get_connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert len(attached) == 1
    # A conflict or a lost catalog: the next connection attaches afresh.
    with pytest.raises(duckdb.TransactionException), lake.get_connection():
        raise duckdb.TransactionException("Transaction conflict - another writer")
    with lake.get_connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert len(attached) == 2


def test_transaction_rolls_back_and_writes_nothing(lake: WarehouseResource) -> None:
    with lake.transaction() as conn:
        conn.execute("CREATE TABLE t (x INT)")
        conn.execute("INSERT INTO t VALUES (1)")

    def failing_write() -> None:
        with lake.transaction() as conn:
            conn.execute("DELETE FROM t")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    with lake.get_connection() as other:
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_conflicting_partition_replace_is_retried_and_lands_once(
    lake: WarehouseResource,
) -> None:
    """Two writers replace the same partition; the one that commits second conflicts,
    runs its whole unit again on the other's rows, and its rows are the only ones left."""
    lake.write(
        lambda conn: conn.execute(
            "CREATE SCHEMA s; CREATE TABLE s.t (p INT, who VARCHAR);"
            "INSERT INTO s.t SELECT 0, 'seed' FROM range(5)"
        ),
        what="seed",
    )

    def replace(who: str, rows: int):
        def unit(conn: duckdb.DuckDBPyConnection) -> None:
            conn.execute("DELETE FROM s.t WHERE p = 0")
            conn.execute(f"INSERT INTO s.t SELECT 0, '{who}' FROM range({rows})")

        return unit

    interleaved: list[Committed[None]] = []

    def first(conn: duckdb.DuckDBPyConnection) -> None:
        replace("first", 3)(conn)
        if not interleaved:  # the other writer commits while this one is open
            interleaved.append(lake.write(replace("second", 4), what="s.t p=0"))

    committed = lake.write(first, what="s.t p=0")
    assert interleaved[0].attempts == 1
    assert committed.attempts == 2
    assert committed.snapshot_id is not None
    assert interleaved[0].snapshot_id is not None
    assert committed.snapshot_id > interleaved[0].snapshot_id
    with lake.get_connection() as conn:
        assert conn.execute("SELECT who, count(*) FROM s.t GROUP BY who").fetchall() == [
            ("first", 3)
        ]
        # Every committed state stays readable at its snapshot.
        before = conn.execute(
            f"SELECT who, count(*) FROM s.t AT (VERSION => {interleaved[0].snapshot_id}) "
            "GROUP BY who"
        ).fetchall()
    assert before == [("second", 4)]


def test_a_conflict_beyond_the_budget_names_what_was_written(tmp_path: Path) -> None:
    with temporary_warehouse(tmp_path, "sqlite", conflict_attempts=2) as lake:

        def replace(conn: duckdb.DuckDBPyConnection) -> None:
            conn.execute("DELETE FROM t WHERE p = 1")
            conn.execute("INSERT INTO t VALUES (1)")

        lake.write(
            lambda conn: conn.execute("CREATE TABLE t (p INT); INSERT INTO t VALUES (1)"),
            what="seed",
        )

        def always_overtaken(conn: duckdb.DuckDBPyConnection) -> None:
            replace(conn)
            lake.write(replace, what="another writer")  # commits first, every time

        with pytest.raises(WarehouseConflictError, match=r"^t partitions 1: .* 2 attempts"):
            lake.write(always_overtaken, what="t partitions 1")


@pytest.mark.processes
def test_overlapping_writers_from_separate_processes_never_fail(
    lake: WarehouseResource, tmp_path: Path
) -> None:
    """Three processes replace the same 20 partitions of one table at once, as runs of
    different locations and backfills do with no pool between them: none fails, and each
    partition holds exactly one writer's complete rows."""
    writer = Path(__file__).with_name("overlapping_writer.py")
    env = {**os.environ, **settings_of(lake)}
    procs = [
        subprocess.Popen([sys.executable, str(writer), str(w), "20"], env=env) for w in range(3)
    ]
    assert [p.wait(300) for p in procs] == [0, 0, 0]
    with lake.get_connection() as conn:
        rows = conn.execute(
            "SELECT p, count(*), count(DISTINCT writer), count(DISTINCT pid) FROM w "
            "GROUP BY p ORDER BY p"
        ).fetchall()
    assert [(p, n, writers, pids) for p, n, writers, pids in rows] == [
        (p, 100, 1, 1) for p in range(20)
    ]


def test_a_reader_names_schemas_without_ambiguity(lake: WarehouseResource) -> None:
    """The lake is attached as `warehouse`, so `analytics.t` can only mean the schema."""
    with lake.transaction() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute("CREATE OR REPLACE TABLE analytics.t AS SELECT 42 AS x")
    reader = lake.model_copy(update={"read_only": True, "data_path": ""})
    with reader.get_connection() as conn:
        assert conn.execute("SELECT x FROM analytics.t").fetchall() == [(42,)]
        with pytest.raises(duckdb.Error, match="read-only"):
            conn.execute("INSERT INTO analytics.t VALUES (1)")


def test_warehouse_memory_limit_spills_to_a_temporary_folder(tmp_path: Path) -> None:
    with (
        temporary_warehouse(tmp_path, "sqlite", memory_limit="100MB") as warehouse,
        warehouse.get_connection() as conn,
    ):
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
    assert settings["temp_directory"].endswith("warehouse-spill")
    assert rows == (4_000_000,)
