"""The lake's daily upkeep: fewer files, the same rows, readers and time travel unharmed."""

from pathlib import Path

import dagster as dg
import pytest

from ingestion.defs.feeds.assets import sales
from ingestion.defs.jobs import lake_maintenance_job
from ingestion.feeds import SALES

DAYS = ["2025-01-02", "2025-01-03", "2025-01-04"]
ROWS = 3000  # above DuckLake's inlining limit: every load writes Parquet files


def _sales_csv(day: str, price: str) -> str:
    header = ",".join(SALES.columns)
    lines = [f"{i},{i},7,{i % 4 + 1},1,{price},{day} 10:00:00" for i in range(1, ROWS + 1)]
    return "\n".join([header, *lines]) + "\n"


def _parquet_files(warehouse) -> int:
    return sum(1 for _ in Path(warehouse.data_path).rglob("*.parquet"))


def _maintain(warehouse, monkeypatch: pytest.MonkeyPatch, retention: str) -> str:
    monkeypatch.setenv("WAREHOUSE_SNAPSHOT_RETENTION", retention)
    with dg.DagsterInstance.ephemeral() as instance:
        result = lake_maintenance_job.execute_in_process(
            resources={"warehouse": warehouse}, instance=instance
        )
        assert result.success
        logs = instance.all_logs(result.run_id)
    (message,) = [e.user_message for e in logs if "Lake maintenance" in e.user_message]
    return message


def test_maintenance_merges_files_and_keeps_rows_readers_and_history(
    write, resources, warehouse, query, monkeypatch
):
    loaded = []
    for day in DAYS:
        write(f"sales/{day}.csv", _sales_csv(day, "5.00"))
        result = dg.materialize([sales], partition_key=day, resources=resources)
        loaded.append(result.get_asset_materialization_events()[0].materialization.metadata)
    # A corrected re-delivery: the first day's old file is now read by old snapshots only.
    write(f"sales/{DAYS[0]}.csv", _sales_csv(DAYS[0], "6.00"))
    assert dg.materialize([sales], partition_key=DAYS[0], resources=resources).success
    totals = "SELECT count(*), sum(unit_price) FROM ingestion.sales"
    expected = query(totals)
    first_snapshot = loaded[0]["lake_snapshot_id"].value
    as_first_loaded = (
        f"SELECT count(*), sum(unit_price) FROM ingestion.sales AT (VERSION => {first_snapshot})"
    )
    history = query(as_first_loaded)
    assert history == [(ROWS, 5 * ROWS)]
    files_before = _parquet_files(warehouse)

    with warehouse.get_connection() as reader:
        reader.execute("BEGIN TRANSACTION")  # a reader in the middle of its work
        assert reader.execute(totals).fetchall() == expected

        message = _maintain(warehouse, monkeypatch, "7 days")

        assert reader.execute(totals).fetchall() == expected
        reader.execute("COMMIT")
    assert "0 snapshots expired, 0 files deleted" in message
    assert query(totals) == expected
    assert query(as_first_loaded) == history  # every snapshot within the retention reads

    # With nothing retained, the snapshots before the last go, and with them the files
    # only they read: the table's rows stay.
    message = _maintain(warehouse, monkeypatch, "0 seconds")
    assert "0 snapshots expired" not in message
    assert query(totals) == expected
    assert _parquet_files(warehouse) < files_before
    with pytest.raises(Exception, match="snapshot"):
        query(as_first_loaded)
