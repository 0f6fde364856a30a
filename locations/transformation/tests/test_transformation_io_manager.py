"""The pandas IO manager stores a DataFrame in one transaction and names tables portably."""

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
import pandas as pd
import pytest

from platform_shared.resources import WarehouseResource
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
        resources={"io_manager": WarehousePandasIOManager(warehouse=warehouse)},
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
    # The failure left nothing half-open: the next store replaces the rows.
    assert _store(warehouse, pd.DataFrame({"id": [4], "name": ["d"]})).success
    assert sql("SELECT * FROM scratch.people") == [(4, "d")]


class _LosesFirstCommit(WarehouseResource):
    """A warehouse whose first transaction loses its commit race to another writer."""

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().transaction() as conn:
            yield conn
            if not LOST:
                LOST.append(True)
                raise duckdb.TransactionException(
                    "Transaction conflict - another transaction has deleted from it"
                )


LOST: list[bool] = []


def test_a_store_that_lost_its_commit_runs_again_and_reports_once(warehouse, sql) -> None:
    LOST.clear()
    flaky = _LosesFirstCommit(catalog=warehouse.catalog, data_path=warehouse.data_path)
    result = dg.materialize(
        [_people(pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}))],
        resources={"io_manager": WarehousePandasIOManager(warehouse=flaky)},
    )

    assert LOST == [True]
    assert sql("SELECT * FROM scratch.people ORDER BY id") == [(1, "a"), (2, "b")]
    [event] = result.get_asset_materialization_events()
    # The second attempt's metadata, added once (Dagster refuses a key added twice).
    assert event.materialization.metadata["dagster/row_count"].value == 2


@pytest.mark.processes
def test_runs_without_dataframes_never_import_pandas(warehouse, tmp_path) -> None:
    # A fresh interpreter: this one imported pandas already. It loads the location, runs
    # customer_orders (SQL only) with the location's IO manager, then customer_emails.
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import dagster as dg
            from transformation.definitions import defs
            from transformation.keys import CUSTOMER_EMAILS, CUSTOMER_ORDERS

            job = defs.resolve_implicit_global_asset_job_def()
            loaded = ["pandas" in sys.modules]
            for key in (CUSTOMER_ORDERS, CUSTOMER_EMAILS):
                result = job.get_subset(asset_selection={key}).execute_in_process(
                    instance=dg.DagsterInstance.ephemeral()
                )
                assert result.success
                loaded.append("pandas" in sys.modules)
            print(loaded)
            """
        )
    )
    with warehouse.transaction() as conn:
        conn.execute(
            "CREATE SCHEMA ingestion;"
            "CREATE TABLE ingestion.customers AS SELECT 1::BIGINT AS customer_id, 'A' AS name,"
            " 'a@x.io' AS email, 'US' AS region, DATE '2024-01-01' AS signup_date;"
            "CREATE TABLE ingestion.orders (order_id BIGINT, customer_id BIGINT,"
            " order_ts TIMESTAMP, status VARCHAR, order_date DATE)"
        )
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # WAREHOUSE_* set by the fixture
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[False, False, True]"
