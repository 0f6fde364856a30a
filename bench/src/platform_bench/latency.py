"""Figure 4, freshness latency: one daily file lands, how long until analytics has it.

The real topology (code servers, daemon, webserver) runs on a PostgreSQL database
created for the benchmark and dropped afterwards. After a warm-up day, the day's orders
and sales files are delivered one day at a time, the way a feed does (written under a
temporary name, renamed into place), and each sample is the time from the sales file's
rename to the end of the successful analytics refresh that covers that day. The drops
are spread evenly over the sensor daemon's 5 s pass, as real deliveries are.

The per-hop breakdown comes from the run records of the chain the day goes through:
the ingestion run that loaded it, the transformation runs that rebuilt its
``enriched_sales`` and ``regional_daily_sales`` partitions (requested together), and the
analytics refresh created after those. Each run contributes three hops: the wait before
it was created (a sensor interval), the wait from creation to start (run queue, run
process start-up) and its execution, each counted from the end of the run before it.

``latency-s3`` is the same figure with the landing files, the lake's Parquet files and
the exports in a bucket of a local S3 server (SeaweedFS on 127.0.0.1, started and stopped
by the figure): the files are uploaded as a team's client does, and every hop that reads
or writes a file goes through the S3 API.

The platform helpers here (database, topology, instance, sample files) are shared with
the fan-out figure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    RunRecord,
    RunsFilter,
)

from platform_bench.common import Context, lake_env, percentile, progress
from platform_shared.dagster_private import PARENT_RUN_ID_TAG
from platform_shared.sample_data import SampleSpec, generate
from platform_shared.sensor_timing import DAEMON_LOOP_SECONDS
from platform_shared.storage import BucketStore, FolderStore, S3Settings, Store, s3_client
from platform_stack.instance import POSTGRES_VARS
from platform_stack.object_store import s3_server
from platform_stack.topology import Topology, free_port

DEFAULT_DROPS = 10
TARGET_MEDIAN_SECONDS = 20.0
TARGET_P95_SECONDS = 40.0
# Trivial data: the figure measures the platform's hops, not the loading of rows.
ROWS_PER_DAY = 30
FIRST_DAY = dt.date(2025, 1, 1)
# Generous: on a loaded two-core machine one run can wait a minute for a CPU.
SAMPLE_TIMEOUT_SECONDS = 900.0
POLL_SECONDS = 0.5

SALES = AssetKey(["ingestion", "sales"])
CUSTOMERS = AssetKey(["ingestion", "customers"])
PRODUCTS = AssetKey(["ingestion", "products"])
ENRICHED_SALES = AssetKey(["transformation", "enriched_sales"])
REGIONAL_DAILY_SALES = AssetKey(["transformation", "regional_daily_sales"])
ANALYTICS_JOB = "analytics_refresh_job"
UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


class BenchSetupError(RuntimeError):
    """The benchmark cannot run here (missing PostgreSQL settings, for instance)."""


# -- platform -----------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(environ: Mapping[str, str], label: str) -> Iterator[dict[str, str]]:
    """``DAGSTER_POSTGRES_*`` of a database created for one figure, dropped afterwards."""
    import psycopg2
    from psycopg2 import sql

    base = {v: environ.get(v, "") for v in POSTGRES_VARS}
    missing = [v for v, value in base.items() if not value]
    if missing:
        raise BenchSetupError(
            f"this figure runs the platform on PostgreSQL: set {', '.join(missing)} "
            "(a role that may create databases; `source deploy/ci/services.sh` provides one)"
        )
    admin = psycopg2.connect(
        host=base["DAGSTER_POSTGRES_HOST"],
        port=int(base["DAGSTER_POSTGRES_PORT"]),
        user=base["DAGSTER_POSTGRES_USER"],
        password=base["DAGSTER_POSTGRES_PASSWORD"],
        dbname=base["DAGSTER_POSTGRES_DB"],
    )
    admin.autocommit = True
    name = f"dagster_bench_{label}_{secrets.token_hex(4)}"
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield {**base, "DAGSTER_POSTGRES_DB": name}
        finally:
            with admin.cursor() as cur:
                cur.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        admin.close()


@dataclass
class SampleFiles:
    """Landing files generated once in a staging folder, delivered on demand."""

    staging: Path
    dates: list[str]

    @classmethod
    def generate(cls, folder: Path, days: int) -> SampleFiles:
        spec = SampleSpec(start=FIRST_DAY, days=days, sales_rows=days * ROWS_PER_DAY)
        generate(folder, spec)
        return cls(staging=folder, dates=[d.isoformat() for d in spec.dates()])

    def _deliver(self, landing: Store, relative: str) -> None:
        if not isinstance(landing, FolderStore):
            # An upload: the object appears whole when it completes, as a client's does.
            landing.put_file(relative, self.staging / relative, content_type="text/csv")
            return
        # Copied under a temporary name and renamed, as a feed delivers: the landed file's
        # mtime is the delivery time, so the sensor's settling rule applies as in real life.
        target = landing.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(self.staging / relative, tmp)
        os.replace(tmp, target)

    def deliver_reference(self, landing: Store) -> None:
        self._deliver(landing, "customers.csv")
        self._deliver(landing, "products.csv")

    def deliver_day(self, landing: Store, date: str) -> float:
        """Orders then sales of ``date``; returns the time the sales file landed."""
        self._deliver(landing, f"orders/{date}.csv")
        self._deliver(landing, f"sales/{date}.csv")
        return time.time()


@dataclass
class Platform:
    topology: Topology
    instance: DagsterInstance
    landing: Store
    files: SampleFiles

    def runs(self, created_after: float | None = None) -> list[RunRecord]:
        after = (
            dt.datetime.fromtimestamp(created_after, dt.UTC) if created_after is not None else None
        )
        return list(self.instance.get_run_records(RunsFilter(created_after=after)))

    def unfinished(self) -> list[RunRecord]:
        return list(self.instance.get_run_records(RunsFilter(statuses=UNFINISHED)))

    def materializations(self, key: AssetKey, after: float, partitions: list[str] | None = None):
        return self.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, after_timestamp=after, asset_partitions=partitions),
            limit=10_000,
        ).records

    def run_record(self, run_id: str) -> RunRecord:
        records = self.instance.get_run_records(RunsFilter(run_ids=[run_id]))
        if not records:
            raise RuntimeError(f"run {run_id} has no record")
        return records[0]


def location_of(record: RunRecord) -> str:
    origin = record.dagster_run.remote_job_origin
    return origin.location_name if origin else "(unknown)"


def _open_instance(topology: Topology) -> DagsterInstance:
    """The platform's instance, read from this process (the same PostgreSQL database)."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in topology.base_env().items() if k.startswith("DAGSTER")})
    try:
        return DagsterInstance.from_config(str(topology.home))
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the processes started here are stopped by pid."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def bench_platform(
    context: Context,
    name: str,
    days: int,
    environ: Mapping[str, str] | None = None,
    bucket: S3Settings | None = None,
) -> Iterator[Platform]:
    """The whole platform on a fresh database, with ``days`` days of files staged.

    ``environ`` (the process environment by default) names the PostgreSQL role. With
    ``bucket``, the landing files, the lake's files and the exports are in a new bucket
    on that S3 server instead of folders.

    Every process is stopped by pid and the database dropped on the way out, also on
    failure or Ctrl-C. Process logs stay in ``artifacts/bench/<name>`` for a post-mortem.
    """
    data = context.scratch / name
    data.mkdir(parents=True)
    progress(f"{name}: staging {days} day(s) of files ({ROWS_PER_DAY} sales rows a day)")
    files = SampleFiles.generate(data / "staging", days)
    logs = context.root / "artifacts" / "bench" / name
    shutil.rmtree(logs, ignore_errors=True)
    base = dict(os.environ if environ is None else environ)
    with _terminate_as_interrupt(), bench_database(base, name) as postgres:
        environ = {k: v for k, v in base.items() if not k.startswith("DAGSTER_POSTGRES_")}
        environ.update(**lake_env(data / "warehouse"), **postgres)
        landing: Store
        if bucket is None:
            landing = FolderStore(data / "landing")
            environ.update(
                LANDING_URL=str(landing.path("")),
                EXPORT_URL=str(data / "warehouse" / "exports"),
            )
        else:
            name_of_bucket = f"bench-{secrets.token_hex(6)}"
            s3_client(bucket).create_bucket(Bucket=name_of_bucket)
            landing = BucketStore(name_of_bucket, "landing", bucket)
            environ.update(
                bucket.environ(),
                LANDING_URL=landing.url,
                WAREHOUSE_DATA_PATH=f"s3://{name_of_bucket}/lake/",
                EXPORT_URL=f"s3://{name_of_bucket}/exports",
            )
        topology = Topology(
            root=context.root,
            home=data / "home",
            environ=environ,
            webserver_port=free_port(),
            log_dir=logs,
            schedules=False,
        )
        progress(f"{name}: starting code servers, daemon and webserver on PostgreSQL")
        started = time.perf_counter()
        topology.start()
        try:
            progress(f"{name}: platform ready in {time.perf_counter() - started:.1f} s")
            instance = _open_instance(topology)
            try:
                yield Platform(topology, instance, landing, files)
            finally:
                instance.dispose()
        finally:
            progress(f"{name}: stopping the platform")
            topology.stop()


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``check`` until it returns something truthy; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{what} not done after {timeout:.0f} s")


def _pending(platform: Platform, since: float) -> str:
    def name(r: RunRecord) -> str:
        return f"{location_of(r)}/{r.dagster_run.job_name} {r.dagster_run.run_id[:8]}"

    runs = platform.runs(created_after=since)
    unfinished = [name(r) for r in runs if not r.dagster_run.is_finished]
    failed = [
        name(r)
        for r in runs
        if r.dagster_run.is_finished and r.dagster_run.status != DagsterRunStatus.SUCCESS
    ]
    return (
        f"; runs not finished: {', '.join(unfinished) or 'none'}"
        f"; failed: {', '.join(failed) or 'none'} (process logs under artifacts/bench)"
    )


def wait_quiet(platform: Platform, timeout: float = SAMPLE_TIMEOUT_SECONDS) -> None:
    wait_for(lambda: not platform.unfinished(), timeout, "runs in progress")


def platform_cpu_ticks(platform: Platform) -> dict[int, int]:
    """CPU clock ticks used so far by each of the platform's processes (Linux).

    Every process is started in a session of its own, so its process group is its pid;
    the runs a code server starts are in that server's group.
    """
    groups = {p.pid for p in platform.topology.processes.values() if p.pid}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited since the listing
        # After the command name: state, ppid, pgrp, ..., utime (14th field), stime.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) in groups:
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def idle_cpu_percent(platform: Platform, seconds: float) -> float:
    """Share of one core the idle platform uses: the price of its sensor intervals."""
    wait_quiet(platform)
    before, started = platform_cpu_ticks(platform), time.monotonic()
    time.sleep(seconds)
    after = platform_cpu_ticks(platform)
    # Per process: one that exits in the window takes its ticks along (a slight undercount).
    used = sum(t - before.get(pid, 0) for pid, t in after.items()) / os.sysconf("SC_CLK_TCK")
    return 100 * used / (time.monotonic() - started)


# -- one sample ---------------------------------------------------------------------------


HOP_RUNS = ("ingestion", "sales_models", "regional_sales", "analytics")


@dataclass(frozen=True)
class Sample:
    """The chain of runs that carried one day from its file to analytics."""

    date: str
    landed: float
    runs: dict[str, RunRecord]

    @property
    def seconds(self) -> float:
        end = self.runs["analytics"].end_time
        assert end is not None
        return end - self.landed

    def hops(self) -> dict[str, float]:
        """Seconds per hop: wait before each run is created, queue to start, execution.

        Only the time after the previous run of the chain ended counts: a run created
        with its predecessor (the regional run, requested with the sales models run)
        waits 0, and its queueing and execution count from that end. The hops add up to
        the sample.
        """
        hops: dict[str, float] = {}
        previous_end = self.landed
        for name in HOP_RUNS:
            record = self.runs[name]
            created = max(record.create_timestamp.timestamp(), previous_end)
            start = max(record.start_time or created, created)
            end = record.end_time or start
            hops[f"{name}.wait"] = created - previous_end
            hops[f"{name}.queue_and_launch"] = start - created
            hops[f"{name}.run"] = end - start
            previous_end = end
        return hops


def _run_of_first(platform: Platform, key: AssetKey, after: float, partitions: list[str]):
    records = platform.materializations(key, after, partitions)
    if not records:
        return None
    first = min(records, key=lambda r: r.storage_id)
    return platform.run_record(first.run_id)


def _succeeded(record: RunRecord | None) -> RunRecord | None:
    """``record`` once it succeeded. A failed run yields None: the platform retries runs
    whose process died, and a failure for good ends in the sample's timeout, which lists
    the failed runs."""
    if record is None or record.dagster_run.status != DagsterRunStatus.SUCCESS:
        return None
    return record


def observe(platform: Platform, date: str, landed: float) -> Sample | None:
    """The finished chain for ``date`` delivered at ``landed``, or None while in progress."""
    from platform_shared.partitions import REGIONS, date_region_key

    ingestion = _succeeded(_run_of_first(platform, SALES, landed, [date]))
    if ingestion is None:
        return None
    sales_models = _succeeded(_run_of_first(platform, ENRICHED_SALES, landed, [date]))
    if sales_models is None:
        return None
    regional_keys = [str(date_region_key(date, region)) for region in REGIONS]
    regional = _succeeded(_run_of_first(platform, REGIONAL_DAILY_SALES, landed, regional_keys))
    if regional is None or regional.end_time is None:
        return None
    # The analytics sensor answers only events of finished runs, so the first refresh
    # created after the regional run ended is the one that covers the day.
    covering = [
        r
        for r in platform.runs(created_after=regional.end_time)
        if r.dagster_run.job_name == ANALYTICS_JOB
    ]
    retried = {r.dagster_run.tags.get(PARENT_RUN_ID_TAG) for r in covering}
    # The first refresh, or its retry when its process died.
    covering = [r for r in covering if r.dagster_run.run_id not in retried]
    if not covering:
        return None
    analytics = _succeeded(min(covering, key=lambda r: r.create_timestamp))
    if analytics is None:
        return None
    return Sample(
        date,
        landed,
        {
            "ingestion": ingestion,
            "sales_models": sales_models,
            "regional_sales": regional,
            "analytics": analytics,
        },
    )


def drop_and_measure(platform: Platform, date: str) -> Sample:
    landed = platform.files.deliver_day(platform.landing, date)
    try:
        sample = wait_for(
            lambda: observe(platform, date, landed),
            SAMPLE_TIMEOUT_SECONDS,
            f"analytics for {date}",
        )
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}{_pending(platform, landed)}") from exc
    assert isinstance(sample, Sample)
    return sample


def warm_up(platform: Platform, date: str) -> None:
    """Reference files and a first day: the first loads create every table."""
    platform.files.deliver_reference(platform.landing)
    sample = drop_and_measure(platform, date)
    wait_quiet(platform)
    progress(f"latency: warm-up day {date} reached analytics in {sample.seconds:.1f} s")


# -- the figure ---------------------------------------------------------------------------


def drop_offsets(drops: int) -> list[float]:
    """Seconds to wait after the platform went quiet before each drop.

    A file lands at any moment of the sensor daemon's pass. Dropping as soon as the
    previous sample finished would land every file at about the same moment (the quiet
    platform is noticed shortly after a pass), which flatters or penalizes every sample
    alike; these offsets spread the drops evenly over one pass.
    """
    return [DAEMON_LOOP_SECONDS * i / drops for i in range(drops)]


def measure(
    context: Context,
    platform: Platform,
    dates: list[str],
    idle_window: float = 30.0,
    figure: str = "latency",
) -> dict[str, object]:
    """Drop each of ``dates`` in turn (the platform idle in between) and record the figure,
    with the CPU the idle platform uses over ``idle_window`` seconds."""
    idle = idle_cpu_percent(platform, idle_window)
    progress(f"latency: idle platform uses {idle:.0f}% of a core (sensor ticks, daemon)")
    samples: list[Sample] = []
    # Other work on the machine stretches every hop: the load goes into the report.
    load: list[float] = []
    offsets = drop_offsets(len(dates))
    for i, (date, offset) in enumerate(zip(dates, offsets, strict=True), 1):
        wait_quiet(platform)
        time.sleep(offset)
        load.append(os.getloadavg()[0])
        sample = drop_and_measure(platform, date)
        samples.append(sample)
        hops = sample.hops()
        slowest = sorted(hops, key=hops.__getitem__, reverse=True)[:3]
        progress(
            f"latency drop {i}/{len(dates)} {date}: {sample.seconds:5.1f} s, load {load[-1]:.1f} "
            f"(slowest hops: {', '.join(f'{h} {hops[h]:.1f}' for h in slowest)})"
        )
    seconds = [s.seconds for s in samples]
    median, p95 = statistics.median(seconds), percentile(seconds, 95)
    hop_names = list(samples[0].hops())
    row = context.record(
        figure,
        drops=len(samples),
        samples_seconds=[round(s, 2) for s in seconds],
        median_seconds=round(median, 2),
        p95_seconds=round(p95, 2),
        target_median_seconds=TARGET_MEDIAN_SECONDS,
        target_p95_seconds=TARGET_P95_SECONDS,
        met=median <= TARGET_MEDIAN_SECONDS and p95 <= TARGET_P95_SECONDS,
        load_average_at_drops=[round(x, 1) for x in load],
        drop_offsets_seconds=[round(x, 2) for x in offsets],
        idle_cpu_percent=round(idle, 1),
        hops_median_seconds={
            h: round(statistics.median(s.hops()[h] for s in samples), 2) for h in hop_names
        },
        runs=[
            {name: record.dagster_run.run_id for name, record in s.runs.items()} for s in samples
        ],
    )
    progress(
        f"latency median {median:.1f} s (target <= {TARGET_MEDIAN_SECONDS:g}), "
        f"p95 {p95:.1f} s (target <= {TARGET_P95_SECONDS:g}) over {len(samples)} drops"
    )
    return row


def run(context: Context) -> None:
    """``--repeat`` above the default asks for more drops, never fewer than ten."""
    drops = max(DEFAULT_DROPS, context.repeat)
    with bench_platform(context, "latency", days=drops + 1) as platform:
        warm_up(platform, platform.files.dates[0])
        measure(context, platform, platform.files.dates[1:])


def run_s3(context: Context) -> None:
    """Figure 4 with every file in a bucket of a local S3 server; beside the folder
    figure when that ran first, with the ratio of the two medians."""
    drops = max(DEFAULT_DROPS, context.repeat)
    folder = next((r for r in context.results if r["figure"] == "latency"), None)
    with (
        s3_server() as settings,
        bench_platform(context, "latency-s3", days=drops + 1, bucket=settings) as platform,
    ):
        warm_up(platform, platform.files.dates[0])
        row = measure(context, platform, platform.files.dates[1:], figure="latency-s3")
    if folder is not None:
        row["vs_folder_median"] = round(
            float(str(row["median_seconds"])) / float(str(folder["median_seconds"])), 2
        )
        progress(f"latency-s3: median x{row['vs_folder_median']} the folder figure's")
