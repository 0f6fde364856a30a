"""Materializing the ingestion assets: metadata, idempotency, corrections, ranges, gates."""

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import dagster as dg
import pytest

from ingestion.defs.feeds.assets import customers, load_feed, orders, sales
from ingestion.feeds import CUSTOMERS, SALES
from ingestion.quality import REJECT_RATE_CHECK, QualityConfig
from ingestion.tags import SHA256_TAG, SOURCE_FILE_TAG
from platform_shared.cross_location import range_tags
from platform_shared.partitions import daily_partitions
from platform_shared.resources import LandingZone

# What only a folder has: symlinks, files written in place, modification times.
FOLDER_ONLY = pytest.mark.parametrize("landing_kind", ["folder"])
DAY = "2025-01-02"
NEXT_DAY = "2025-01-03"
SALES_HEADER = ",".join(SALES.columns)


def sales_csv(*lines: str) -> str:
    return "\n".join([SALES_HEADER, *lines]) + "\n"


def sale(sale_id: int, quantity: int = 1, price: str = "5.00", day: str = DAY) -> str:
    return f"{sale_id},{sale_id // 3 + 1},7,{sale_id % 4 + 1},{quantity},{price},{day} 10:00:00"


def good_sales(first: int, count: int, day: str = DAY) -> list[str]:
    """Enough good lines that one bad line stays under the 5 % threshold."""
    return [sale(i, day=day) for i in range(first, first + count)]


def materialization(result: dg.ExecuteInProcessResult, partition: str | None = None):
    events = result.get_asset_materialization_events()
    return next(e for e in events if partition is None or e.partition == partition).materialization


def test_materialization_reports_rows_rejects_file_and_hash(write, resources, query):
    path = write(f"sales/{DAY}.csv", sales_csv(*good_sales(1, 20), sale(21, quantity=0)))

    result = dg.materialize([sales], partition_key=DAY, resources=resources)

    assert result.success
    metadata = materialization(result).metadata
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(20)
    assert metadata["rejected_count"] == dg.MetadataValue.int(1)
    assert metadata["source_file"] == dg.MetadataValue.path(f"sales/{DAY}.csv")
    assert metadata["content_sha256"] == dg.MetadataValue.text(
        hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert isinstance(metadata["preview"], dg.MarkdownMetadataValue)
    assert "| sale_id |" in (metadata["preview"].value or "")
    assert isinstance(metadata["schema"], dg.JsonMetadataValue)
    assert metadata["schema"].value == {
        "sale_id": "int",
        "order_id": "int",
        "customer_id": "int",
        "product_id": "int",
        "quantity": "int",
        "unit_price": "decimal",
        "sale_ts": "timestamp",
        "sale_date": "date",
    }
    assert isinstance(metadata["load_duration_seconds"], dg.FloatMetadataValue)
    assert isinstance(metadata["dagster/column_schema"], dg.TableSchemaMetadataValue)
    # The lake snapshot the load committed reads the table as this load left it, also
    # after a later reload of the day.
    snapshot = metadata["lake_snapshot_id"]
    assert isinstance(snapshot, dg.IntMetadataValue)
    write(f"sales/{DAY}.csv", sales_csv(*good_sales(1, 5)))
    assert dg.materialize([sales], partition_key=DAY, resources=resources).success
    assert query("SELECT count(*) FROM ingestion.sales") == [(5,)]
    as_loaded = f"SELECT count(*) FROM ingestion.sales AT (VERSION => {snapshot.value})"
    assert query(as_loaded) == [(20,)]


def test_reloading_a_partition_is_idempotent(write, resources, query):
    write(f"sales/{DAY}.csv", sales_csv(*good_sales(1, 20), sale(21, quantity=0)))

    for _ in range(2):
        assert dg.materialize([sales], partition_key=DAY, resources=resources).success

    assert query("SELECT count(*), count(DISTINCT sale_id) FROM ingestion.sales") == [(20, 20)]
    assert query("SELECT count(*) FROM ingestion.rejected_rows") == [(1,)]


def test_corrected_file_replaces_values_and_rejects_of_its_partition_only(write, resources, query):
    other = good_sales(100, 20, day=NEXT_DAY)
    write(f"sales/{NEXT_DAY}.csv", sales_csv(*other, sale(200, quantity=-1, day=NEXT_DAY)))
    assert dg.materialize([sales], partition_key=NEXT_DAY, resources=resources).success
    write(f"sales/{DAY}.csv", sales_csv(*good_sales(1, 20), sale(21, quantity=0)))
    assert dg.materialize([sales], partition_key=DAY, resources=resources).success

    write(f"sales/{DAY}.csv", sales_csv(sale(1, quantity=5), sale(21, quantity=2)))
    assert dg.materialize([sales], partition_key=DAY, resources=resources).success

    assert query(
        "SELECT sale_id, quantity FROM ingestion.sales WHERE sale_date = ? ORDER BY 1", [DAY]
    ) == [(1, 5), (21, 2)]
    assert query(
        "SELECT partition_key, line_number, reason FROM ingestion.rejected_rows ORDER BY 1"
    ) == [(NEXT_DAY, 22, "quantity is not positive")]
    assert query("SELECT count(*) FROM ingestion.sales WHERE sale_date = ?", [NEXT_DAY]) == [(20,)]


def test_snapshot_replaces_the_whole_table(write, resources, query):
    header = ",".join(CUSTOMERS.columns)
    write("customers.csv", f"{header}\n1,A,a@x.io,US,2024-01-01\n2,B,b@x.io,EU,2024-01-01\n")
    dg.materialize([customers], resources=resources)
    write("customers.csv", f"{header}\n2,B2,b@x.io,EU,2024-01-01\n")

    result = dg.materialize([customers], resources=resources)

    assert query("SELECT customer_id, name FROM ingestion.customers") == [(2, "B2")]
    assert materialization(result).metadata["dagster/row_count"] == dg.MetadataValue.int(1)


def test_partition_range_loads_each_file_in_one_run(write, resources, query):
    delivered = {
        f"sales/{DAY}.csv": write(
            f"sales/{DAY}.csv", sales_csv(*good_sales(1, 20), sale(21, quantity=0))
        ),
        f"sales/{NEXT_DAY}.csv": write(
            f"sales/{NEXT_DAY}.csv", sales_csv(*good_sales(30, 2, day=NEXT_DAY))
        ),
    }

    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize(
        [sales],
        resources=resources,
        tags=range_tags(dg.PartitionKeyRange(DAY, NEXT_DAY)),
        instance=instance,
    )

    assert result.success
    assert query(
        "SELECT sale_date::VARCHAR, count(*) FROM ingestion.sales GROUP BY 1 ORDER BY 1"
    ) == [(DAY, 20), (NEXT_DAY, 2)]
    # A range logs a summary, not a line per file (each line is an event in the instance).
    logged = [
        (e.level, e.user_message)
        for e in instance.all_logs(result.run_id)
        if not e.is_dagster_event and e.user_message.startswith(("Loaded", "1 of"))
    ]
    assert logged == [
        (
            logging.INFO,
            f"Loaded 2 files (sales/{DAY}.csv .. sales/{NEXT_DAY}.csv): 22 rows into "
            "ingestion.sales, 1 rejected",
        ),
        (
            logging.WARNING,
            "1 of 23 lines in 1 of 2 files quarantined in ingestion.rejected_rows; highest "
            f"share 4.8% in sales/{DAY}.csv. Top reasons: quantity is not positive (x1)",
        ),
    ]
    assert query("SELECT partition_key, line_number FROM ingestion.rejected_rows") == [(DAY, 22)]
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events if e.partition) == [DAY, NEXT_DAY]
    # One event per partition, each carrying the run's totals.
    metadata = materialization(result, DAY).metadata
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(22)
    assert metadata["rejected_count"] == dg.MetadataValue.int(1)
    assert metadata["source_file"] == dg.MetadataValue.path("sales/")
    assert metadata["file_count"] == dg.MetadataValue.int(2)
    # Copied onto every partition's event, so nothing in it is listed per file ...
    assert "files" not in metadata
    # ... that is the check's part, recorded once per run.
    (evaluation,) = result.get_asset_check_evaluations()
    files = cast("dict[str, dict[str, Any]]", evaluation.metadata["files"].value)
    assert {name: entry["sha256"] for name, entry in files.items()} == {
        name: hashlib.sha256(file.read_bytes()).hexdigest() for name, file in delivered.items()
    }
    assert files[f"sales/{DAY}.csv"]["rejected"] == 1


def test_missing_file_fails_a_single_partition_run(resources):
    result = dg.materialize([sales], partition_key=DAY, resources=resources, raise_on_error=False)

    assert not result.success
    failure = result.failure_data_for_node("ingestion__sales")
    assert failure is not None
    assert f"Landing file missing: sales/{DAY}.csv" in str(failure.error)


def test_missing_file_in_a_range_keeps_that_partition(write, resources, query, landing):
    write(f"sales/{NEXT_DAY}.csv", sales_csv(sale(3, day=NEXT_DAY)))
    dg.materialize([sales], partition_key=NEXT_DAY, resources=resources)
    landing.delete(f"sales/{NEXT_DAY}.csv")  # e.g. the landing zone was cleaned up
    write(f"sales/{DAY}.csv", sales_csv(sale(1)))

    result = dg.materialize(
        [sales], resources=resources, tags=range_tags(dg.PartitionKeyRange(DAY, NEXT_DAY))
    )

    assert result.success
    assert query("SELECT sale_id FROM ingestion.sales ORDER BY 1") == [(1,), (3,)]
    missing = materialization(result).metadata["missing_files"]
    assert missing == dg.MetadataValue.json([f"sales/{NEXT_DAY}.csv"])


HOSTILE_KEY = "2024-01-01'); DROP TABLE x;--"


def test_hostile_partition_key_is_refused_before_file_or_sql(resources, warehouse, landing, caplog):
    class RunContext:  # what a run with that partition key would hand the asset
        partition_keys = (HOSTILE_KEY,)
        log = logging.getLogger("ingestion-test")

    with pytest.raises(dg.Failure, match="is not a YYYY-MM-DD date"):
        list(
            load_feed(
                RunContext(),  # type: ignore[arg-type]
                SALES,
                warehouse,
                LandingZone(root=landing.url),
                QualityConfig(),
            )
        )
    assert "Refusing to load sales" in caplog.text
    assert not Path(warehouse.data_path).exists()  # nothing ever attached the lake


def test_hostile_partition_key_never_becomes_a_run(resources, warehouse):
    assert not daily_partitions.has_partition_key(HOSTILE_KEY)
    with pytest.raises(dg.DagsterUnknownPartitionError):
        dg.materialize([sales], partition_key=HOSTILE_KEY, resources=resources)
    assert not Path(warehouse.data_path).exists()


@FOLDER_ONLY
def test_symlink_out_of_the_landing_folder_is_refused(
    tmp_path, landing_folder, resources, warehouse
):
    outside = tmp_path / "secret.csv"
    outside.write_text(sales_csv(sale(1)))
    (landing_folder / "sales").mkdir()
    (landing_folder / f"sales/{DAY}.csv").symlink_to(outside)

    with (
        dg.build_asset_context(partition_key=DAY, resources=resources) as context,
        pytest.raises(dg.Failure, match="outside the landing folder"),
    ):
        list(cast(Iterable[Any], sales(context)))
    assert not Path(warehouse.data_path).exists()


@dg.asset(
    deps=[sales],
    partitions_def=daily_partitions,
    key_prefix=["probe"],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def sales_consumer(context: dg.AssetExecutionContext) -> None:
    """Stands for anything downstream of sales in the same run."""
    context.add_output_metadata({"consumed": context.partition_key})


def _mostly_bad_file(write) -> None:
    write(f"sales/{DAY}.csv", sales_csv(sale(1), sale(2, quantity=0), sale(3, quantity=0)))


def test_blocking_check_fails_and_stops_downstream(write, resources, query):
    _mostly_bad_file(write)

    result = dg.materialize(
        [sales, sales_consumer], partition_key=DAY, resources=resources, raise_on_error=False
    )

    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == REJECT_RATE_CHECK
    assert not evaluation.passed
    assert evaluation.blocking
    assert evaluation.metadata["reject_rate"] == dg.MetadataValue.float(2 / 3)
    assert evaluation.metadata["threshold"] == dg.MetadataValue.float(0.05)
    assert evaluation.metadata["rejected_count"] == dg.MetadataValue.int(2)
    # The load itself happened (rows and rejects are inspectable), but nothing consumed it.
    assert query("SELECT count(*) FROM ingestion.sales") == [(1,)]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["probe", "sales_consumer"]) not in materialized
    assert not result.success


def test_threshold_is_configurable(write, resources, monkeypatch):
    _mostly_bad_file(write)
    monkeypatch.setenv("REJECT_RATE_THRESHOLD", "0.9")
    lenient: dict[str, Any] = {
        **resources,
        "quality": QualityConfig(reject_rate_threshold=dg.EnvVar("REJECT_RATE_THRESHOLD")),
    }

    result = dg.materialize([sales, sales_consumer], partition_key=DAY, resources=lenient)

    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    assert evaluation.metadata["threshold"] == dg.MetadataValue.float(0.9)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["probe", "sales_consumer"]) in materialized


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1"])
def test_invalid_threshold_is_refused(value):
    with pytest.raises(ValueError, match="REJECT_RATE_THRESHOLD"):
        _ = QualityConfig(reject_rate_threshold=value).threshold


def test_run_tags_of_the_sensor_are_compared_with_the_loaded_file(write, resources):
    path = write(
        f"orders/{DAY}.csv", "order_id,customer_id,order_ts,status\n1,2,2025-01-02 09:00:00,ok\n"
    )
    sha = hashlib.sha256(path.read_bytes()).hexdigest()

    result = dg.materialize(
        [orders],
        partition_key=DAY,
        resources=resources,
        tags={SOURCE_FILE_TAG: f"orders/{DAY}.csv", SHA256_TAG: sha},
    )

    assert result.success
    assert materialization(result).metadata["content_sha256"] == dg.MetadataValue.text(sha)
