"""Figure 1's floor: its runs record what the platform's partitioned runs record, and the
growth row sets the platform's growth against it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import environ

from platform_bench import dataplane, floor
from platform_bench.common import Context, Scale
from platform_instance.storage import EVENT_BATCH_SIZE
from platform_stack.instance import prepare_home


@pytest.mark.postgres
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


def test_growth_row_sets_the_overhead_growth_against_the_floor(tmp_path: Path) -> None:
    context = Context(root=tmp_path, scratch=tmp_path, repeat=3, scales=[])
    year, short = dt.date(2025, 12, 31), dt.date(2025, 1, 30)
    samples = {year: iter([2.0, 2.6, 2.2]), short: iter([0.5, 0.7, 0.6])}
    asked: list[str] = []

    class Bench:
        def floor(self, first: dt.date, last: dt.date, label: str) -> float:
            asked.append(label)
            return next(samples[last])

    dataplane._record_growth(
        context,
        Bench(),  # type: ignore[arg-type]
        Scale(rows=100_000),
        [(365, year), (30, short)],
        {365: 15.4, 30: 14.1},
    )

    # In turn, each range first every other round: a drift reaches both alike.
    assert asked == ["365-0", "30-0", "30-1", "365-1", "365-2", "30-2"]
    (row,) = context.results
    assert row["figure"] == "dataplane_growth"
    assert row["days"] == [30, 365]
    assert row["overhead_growth_seconds"] == 1.3
    assert row["floor_seconds"] == {"365": 2.2, "30": 0.6}
    assert row["floor_growth_seconds"] == 1.6
    assert row["beyond_floor_seconds"] == -0.3


def test_floor_runs_have_the_shape_of_the_platforms_partitioned_steps() -> None:
    """Each floor run stands for one ranged step of figure 1: same assets, partitions
    definitions and number of checks, so the floor follows when the platform changes."""
    import ingestion.definitions
    import transformation.definitions

    graphs = {
        "ingestion": ingestion.definitions.defs.resolve_asset_graph(),
        "transformation": transformation.definitions.defs.resolve_asset_graph(),
    }
    day = dt.date(2025, 1, 1)
    steps = [s for s in dataplane.ranged_steps(day, day) if s[2] is not None]
    runs = [*floor.DAILY_RUNS, floor.REGIONAL_RUN]
    assert len(runs) == len(steps)
    for (location, select, _), assets in zip(steps, runs, strict=True):
        real = [graphs[location].get(dg.AssetKey.from_user_string(k)) for k in select.split(",")]
        mirrored = [next(iter(a.keys)) for a in assets]
        assert [k.path[-1] for k in mirrored] == [node.key.path[-1] for node in real]
        for node, a, key in zip(real, assets, mirrored, strict=True):
            assert a.partitions_def == node.partitions_def, key
            assert len(a.check_specs_by_output_name) == len(node.check_keys), key
