"""The fan-out and latency figures on the real topology, at their smallest useful size.

One platform serves both (starting it is the slow part): the fan-out drop loads the
reference data and a few days, then three single-day drops are timed. Its files are in a
bucket of a local S3 server, as in ``latency-s3`` (the system tests cover folders). The
report's structure and its consistency with the run records are checked, never the
timings.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from platform_bench import fanout, latency
from platform_bench.common import Context, Scale
from platform_shared.storage import BucketStore, s3_client
from platform_stack.object_store import s3_server

pytestmark = [pytest.mark.processes, pytest.mark.slow, pytest.mark.postgres]

FANOUT_DAYS = 3
DROPS = 3
LOCATIONS = {"ingestion", "transformation", "analytics"}


def test_fanout_then_latency_report_runs_and_samples(
    tmp_path: Path, pytestconfig: pytest.Config, postgres_env: dict[str, str]
) -> None:
    context = Context(
        root=pytestconfig.rootpath,
        scratch=tmp_path,
        repeat=1,
        scales=[Scale(1_000, days=FANOUT_DAYS)],
    )
    # The figures create (and drop) a database of their own with this role.
    environ = {**os.environ, **postgres_env}
    with (
        s3_server() as settings,
        latency.bench_platform(
            context, "test", days=FANOUT_DAYS + DROPS, environ=environ, bucket=settings
        ) as platform,
    ):
        fan = fanout.measure(context, platform, platform.files.dates[:FANOUT_DAYS])
        lat = latency.measure(
            context, platform, platform.files.dates[FANOUT_DAYS:], idle_window=5.0
        )
        records = {r.dagster_run.run_id: r for r in platform.runs()}
        # Every file went through the bucket: the landed days, the lake's Parquet files.
        assert isinstance(platform.landing, BucketStore)
        bucket = platform.landing.bucket
        keys = [
            item["Key"]
            for page in s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])
        ]
        days = platform.files.dates
        assert {f"landing/sales/{d}.csv" for d in days} <= set(keys)
        assert any(k.startswith("lake/") and k.endswith(".parquet") for k in keys)

    assert [r["figure"] for r in context.results] == ["fanout", "latency"]

    per_location = fan["runs_per_location"]
    assert isinstance(per_location, dict)
    assert set(per_location) == LOCATIONS
    # A run may fail to launch on a crowded machine; each failure must have been retried.
    failed, retries = fan["failed_runs"], fan["retries"]
    assert isinstance(failed, list)
    assert isinstance(retries, dict)
    assert set(failed) <= set(retries)
    assert fan["days"] == FANOUT_DAYS
    assert sum(per_location.values()) == fan["total_runs"]
    per_job = fan["runs_per_job"]
    assert isinstance(per_job, dict)
    for location, count in per_location.items():
        assert sum(n for job, n in per_job.items() if job.startswith(f"{location}/")) == count
    # At most one ingestion run per file (retries aside); downstream locations fold it.
    assert 1 <= per_location["ingestion"] - len(retries) <= 2 * FANOUT_DAYS
    assert per_job.get("analytics/analytics_refresh_job", 0) >= 1

    samples = lat["samples_seconds"]
    assert isinstance(samples, list)
    assert lat["drops"] == len(samples) == DROPS
    median, p95 = lat["median_seconds"], lat["p95_seconds"]
    assert isinstance(median, float)
    assert isinstance(p95, float)
    assert min(samples) <= median <= p95 == max(samples)
    assert median == round(statistics.median(samples), 2)
    hops = lat["hops_median_seconds"]
    assert isinstance(hops, dict)
    assert {h.split(".")[0] for h in hops} == set(latency.HOP_RUNS)
    # The drops are spread over a pass of the sensor daemon, first one without delay.
    offsets = lat["drop_offsets_seconds"]
    assert isinstance(offsets, list)
    assert offsets == sorted(offsets)
    assert len(offsets) == DROPS
    assert offsets[0] == 0
    assert offsets[-1] < latency.DAEMON_LOOP_SECONDS
    chains = lat["runs"]
    assert isinstance(chains, list)
    assert len(chains) == DROPS
    dates = platform.files.dates[FANOUT_DAYS:]
    for date, chain in zip(dates, chains, strict=True):
        # Every hop is a run on record that succeeded, in its location, in chain order.
        runs = [records[chain[name]] for name in latency.HOP_RUNS]
        assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS] * 4
        assert [latency.location_of(r) for r in runs] == [
            "ingestion",
            "transformation",
            "transformation",
            "analytics",
        ]
        assert runs[0].dagster_run.tags.get("dagster/partition") == date
        assert runs[-1].dagster_run.job_name == latency.ANALYTICS_JOB
        ends = [r.end_time or 0 for r in runs]
        assert ends == sorted(ends)
