"""Dagster's own cost per partition, the floor under figure 1's growth with partitions.

A run over a partition range records a planned and a materialization event per partition
of each asset, and a planned row per partition of each check, whatever the assets do.
This module times runs of the same shape as figure 1's partitioned steps (the same
partitions definitions, assets and checks per run) with trivial bodies and no metadata,
against the instance named by ``DAGSTER_HOME``. Figure 1 runs it over its short range and
over the year: what the platform's overhead grows by beyond this floor is its own.

``python -m platform_bench.floor --first 2025-01-01 --last 2025-12-31`` prints
``{"seconds": ...}``, the time of the runs alone (imports and instance excluded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Sequence

import dagster as dg

from platform_shared.cross_location import range_tags
from platform_shared.partitions import REGIONS, daily_partitions, date_region_partitions

PREFIX = "bench_floor"


def _asset(name: str, partitions: dg.PartitionsDefinition, checks: int = 0) -> dg.AssetsDefinition:
    key = dg.AssetKey([PREFIX, name])
    specs = [dg.AssetCheckSpec(f"check_{i}", asset=key) for i in range(checks)]

    @dg.asset(
        key=key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=specs,
    )
    def _trivial() -> dg.MaterializeResult:
        results = [dg.AssetCheckResult(check_name=s.name, passed=True) for s in specs]
        return dg.MaterializeResult(check_results=results)

    return _trivial


# Figure 1's partitioned steps: ingestion's two daily feeds (one check each),
# transformation's enriched_sales (four checks) with daily_sales, and the date x region
# table.
DAILY_RUNS: Sequence[Sequence[dg.AssetsDefinition]] = (
    (_asset("orders", daily_partitions, 1), _asset("sales", daily_partitions, 1)),
    (_asset("enriched_sales", daily_partitions, 4), _asset("daily_sales", daily_partitions)),
)
REGIONAL_RUN = (_asset("regional_daily_sales", date_region_partitions),)


def measure(first: dt.date, last: dt.date) -> float:
    """Seconds the runs over [first, last] take against the ``DAGSTER_HOME`` instance."""
    days = dg.PartitionKeyRange(str(first), str(last))
    blocks = dg.PartitionKeyRange(f"{first}|{REGIONS[0]}", f"{last}|{REGIONS[-1]}")
    runs = [(assets, days) for assets in DAILY_RUNS] + [(REGIONAL_RUN, blocks)]
    with dg.DagsterInstance.get() as instance:
        seconds = 0.0
        for assets, keys in runs:
            started = time.perf_counter()
            result = dg.materialize(assets, instance=instance, tags=range_tags(keys))
            seconds += time.perf_counter() - started
            if not result.success:
                raise RuntimeError(f"floor run over {keys} failed")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the floor runs over a range of days.")
    parser.add_argument("--first", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--last", type=dt.date.fromisoformat, required=True)
    args = parser.parse_args(argv)
    print(json.dumps({"seconds": round(measure(args.first, args.last), 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
