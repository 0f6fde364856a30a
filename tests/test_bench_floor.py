"""The floor runs of figure 1 record what the platform's partitioned runs record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dagster._core.test_utils import environ

from platform_instance.storage import EVENT_BATCH_SIZE
from platform_stack.bench import floor
from platform_stack.instance import prepare_home

pytestmark = pytest.mark.postgres


def test_floor_runs_write_an_event_per_partition_and_check(
    tmp_path: Path, postgres_env: dict[str, str], postgres_query, pytestconfig: pytest.Config
) -> None:
    home = tmp_path / "home"
    assert prepare_home(home, pytestconfig.rootpath / "dagster.yaml", postgres_env) == "postgres"
    env = {
        **postgres_env,
        "DAGSTER_HOME": str(home),
        "DAGSTER_EVENT_BATCH_SIZE": str(EVENT_BATCH_SIZE),
    }

    with environ(env):
        seconds = floor.measure(dt.date(2025, 3, 1), dt.date(2025, 3, 2))

    assert seconds > 0
    prefix = f'["{floor.PREFIX}", %'
    events = postgres_query(
        "SELECT asset_key, dagster_event_type, count(*) FROM event_logs "
        "WHERE asset_key LIKE %s AND dagster_event_type LIKE 'ASSET_MATERIALIZATION%%' "
        "GROUP BY 1, 2",
        (prefix,),
    )
    counts = {(key.split('"')[3], kind): n for key, kind, n in events}
    # Two days; the date x region table has three regions a day.
    per_asset = {"orders": 2, "sales": 2, "enriched_sales": 2, "daily_sales": 2}
    per_asset["regional_daily_sales"] = 6
    assert counts == {
        (name, kind): n
        for name, n in per_asset.items()
        for kind in ("ASSET_MATERIALIZATION", "ASSET_MATERIALIZATION_PLANNED")
    }
    # A planned row per partition for each check: one check on each feed, four on
    # enriched_sales, as on the platform's assets.
    planned = postgres_query(
        "SELECT asset_key, count(*) FROM asset_check_executions "
        "WHERE asset_key LIKE %s AND execution_status = 'PLANNED' GROUP BY 1",
        (prefix,),
    )
    assert {key.split('"')[3]: n for key, n in planned} == {
        "orders": 2,
        "sales": 2,
        "enriched_sales": 8,
    }
