"""Figure 3, fan-out: a year of daily files lands at once; how many runs does it cost?

On the real topology with PostgreSQL (see :mod:`platform_bench.latency`), the
reference files are loaded first, then the orders and sales files of every day are
dropped into the landing folder together. The figure counts, from the run records, the
runs each location creates until the analytics refresh that covers every day has
succeeded and nothing is left running, and the wall time from the drop to that refresh.

The target is a bounded handful of runs per location, not one per partition: the
cross-location sensors fold a burst into a few range runs. The number of days is the
``@days`` of the first ``--scale`` (365 by default); rows per day stay trivial.
"""

from __future__ import annotations

import time
from collections import Counter

from dagster import DagsterRunStatus

from platform_bench.common import Context, progress
from platform_bench.latency import (
    ANALYTICS_JOB,
    CUSTOMERS,
    ENRICHED_SALES,
    PRODUCTS,
    REGIONAL_DAILY_SALES,
    Platform,
    bench_platform,
    location_of,
    wait_for,
    wait_quiet,
)
from platform_shared.dagster_private import PARENT_RUN_ID_TAG as PARENT_RUN_TAG

# A handful per location: what "bounded" means in the report.
TARGET_RUNS_PER_LOCATION = 10
PROGRESS_EVERY_SECONDS = 15.0


def _covered(platform: Platform, dropped: float, days: int) -> float | None:
    """End time of the successful analytics refresh covering every dropped day, once
    nothing is left running; None until then."""
    if platform.unfinished():
        return None
    enriched = platform.materializations(ENRICHED_SALES, dropped)
    if len({r.partition_key for r in enriched}) < days:
        return None
    regional = platform.materializations(REGIONAL_DAILY_SALES, dropped)
    if not regional:
        return None
    newest = max(r.timestamp for r in [*enriched, *regional])
    refreshes = [
        r
        for r in platform.runs(created_after=newest)
        if r.dagster_run.job_name == ANALYTICS_JOB
        and r.dagster_run.status == DagsterRunStatus.SUCCESS
    ]
    ends = [r.end_time for r in refreshes if r.end_time is not None]
    return min(ends) if ends else None


def measure(context: Context, platform: Platform, dates: list[str]) -> dict[str, object]:
    """Load reference data, drop every day of ``dates`` at once and record the figure."""
    platform.files.deliver_reference(platform.landing)
    wait_for(
        lambda: (
            platform.materializations(CUSTOMERS, 0.0) and platform.materializations(PRODUCTS, 0.0)
        ),
        300,
        "reference data loaded",
    )
    wait_quiet(platform)
    progress(f"fanout: dropping {len(dates)} day(s) ({2 * len(dates)} files) at once")
    dropped = time.time()
    for date in dates:
        platform.files.deliver_day(platform.landing, date)
    last_report = 0.0

    def done() -> float | None:
        nonlocal last_report
        finished = _covered(platform, dropped, len(dates))
        if finished is None and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            runs = platform.runs(created_after=dropped)
            per_location = Counter(location_of(r) for r in runs)
            running = sum(1 for r in runs if not r.dagster_run.is_finished)
            progress(
                f"fanout: {time.time() - dropped:6.0f} s, runs so far "
                + ", ".join(f"{k} {v}" for k, v in sorted(per_location.items()))
                + f"; {running} not finished"
            )
        return finished

    # A safety net only: a loaded two-core machine can take a minute per run.
    finished = wait_for(done, 600 + 30 * len(dates), "analytics covering every dropped day")
    assert isinstance(finished, float)
    runs = platform.runs(created_after=dropped)
    per_location = Counter(location_of(r) for r in runs)
    per_job = Counter(f"{location_of(r)}/{r.dagster_run.job_name}" for r in runs)
    failed = [
        r.dagster_run.run_id for r in runs if r.dagster_run.status != DagsterRunStatus.SUCCESS
    ]
    # Automatic retries of runs whose process died (run_retries in dagster.yaml).
    retried = {
        parent: r.dagster_run.run_id
        for r in runs
        if (parent := r.dagster_run.tags.get(PARENT_RUN_TAG)) is not None
    }
    row = context.record(
        "fanout",
        days=len(dates),
        files=2 * len(dates),
        runs_per_location=dict(sorted(per_location.items())),
        runs_per_job=dict(sorted(per_job.items())),
        total_runs=len(runs),
        failed_runs=failed,
        retries=retried,
        wall_seconds=round(finished - dropped, 1),
        target_runs_per_location=TARGET_RUNS_PER_LOCATION,
        bounded={
            loc: count <= TARGET_RUNS_PER_LOCATION for loc, count in sorted(per_location.items())
        },
    )
    progress(
        f"fanout {len(dates)} days: "
        + ", ".join(f"{k} {v} runs" for k, v in sorted(per_location.items()))
        + f"; analytics refreshed after {finished - dropped:.0f} s"
        + (f"; {len(failed)} failed, {len(retried)} retried" if failed or retried else "")
    )
    return row


def run(context: Context) -> None:
    days = context.scales[0].days
    with bench_platform(context, "fanout", days=days) as platform:
        measure(context, platform, platform.files.dates)
