"""The pandas IO manager stores a DataFrame in one transaction and names tables portably."""

import dagster as dg
import duckdb
import pandas as pd

from transformation.io_managers import WarehousePandasIOManager

KEY = dg.AssetKey(["scratch", "people"])


def _people(frame: pd.DataFrame) -> dg.AssetsDefinition:
    @dg.asset(key=KEY)
    def people() -> pd.DataFrame:
        return frame

    return people


def _store(warehouse, frame: pd.DataFrame) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [_people(frame)],
        resources={"io_manager": WarehousePandasIOManager(database=warehouse.database)},
        raise_on_error=False,
    )


def test_store_replaces_the_table_and_reports_a_portable_name(warehouse, sql) -> None:
    assert _store(warehouse, pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})).success
    result = _store(warehouse, pd.DataFrame({"id": [3], "name": ["c"]}))

    assert result.success
    assert sql("SELECT * FROM scratch.people") == [(3, "c")]
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["dagster/table_name"].value == "scratch.people"
    assert metadata["dagster/row_count"].value == 1


def test_a_failed_store_keeps_the_previous_rows(warehouse, sql) -> None:
    assert _store(warehouse, pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})).success

    # One column too many: the INSERT fails after the DELETE, inside the same transaction.
    broken = _store(warehouse, pd.DataFrame({"id": [3], "name": ["c"], "extra": [0]}))

    assert not broken.success
    assert sql("SELECT * FROM scratch.people ORDER BY id") == [(1, "a"), (2, "b")]
    # No connection survived the failure: DuckDB refuses a connection with another
    # configuration while one to the same file is open in the process.
    duckdb.connect(warehouse.database, config={"threads": 1}).close()
