"""Figures 1, 2 and 6: the data plane through Dagster against the same SQL in one DuckDB.

Figure 1 (``dataplane``) materializes every asset of the three locations over a range of
days the way a user does from a terminal: ``dagster asset materialize`` from each
location's own environment, one ranged run per partitions definition (the assets'
single-run backfill policy), against a real instance home (PostgreSQL when
``DAGSTER_POSTGRES_*`` names a role that may create databases, SQLite otherwise). The
baseline is :mod:`platform_bench.baseline` over the same files. Both warehouses must
hold the same rows and revenue, or the figure fails. It runs the whole year and a short
range, so the orchestration overhead (platform minus baseline) can be compared across
partition counts, and records the peak resident memory of every run process as figure 6
(``memory``).

``dataplane-s3`` is figure 1 with the landing files, the lake's Parquet files and the
exports in a bucket of a local S3 server (SeaweedFS on 127.0.0.1, started and stopped by
the figure): its baseline is the same SQL in one DuckDB reading and writing the same
bucket, and each sample also times the platform on folders, so the bucket's cost is a
ratio of two runs measured side by side.

Figure 2 (``backfill``) is the 365-day backfill launched as ranged runs (the CLI path of a
single-run backfill policy, no daemon) against one range query per table, plus the
one-run-per-partition default measured on a few days and extrapolated to the year.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from platform_bench.common import (
    Context,
    Scale,
    lake_env,
    progress,
    ratio,
    read_warehouse,
)
from platform_shared.sample_data import SampleSpec, generate
from platform_shared.storage import BucketStore, S3Settings, is_url, s3_client
from platform_shared.testing import s3_environment
from platform_stack.instance import POSTGRES_VARS, initialize_storage, prepare_home, uses_postgres
from platform_stack.object_store import s3_server
from platform_stack.topology import Topology

_T = TypeVar("_T")

FIRST_DAY = dt.date(2025, 1, 1)
SHORT_DAYS = 30
PER_PARTITION_DAYS = 7
TARGET_RATIO = {"10M": 2.0, "default": 1.5}
# The platform on a bucket against the platform on folders, figure 1's whole range.
S3_TARGET_VS_FOLDER = 1.3
BACKFILL_TARGET_RATIO = 2.0
MEMORY_TARGET_BYTES = int(1.5 * 2**30)
MEMORY_GROWTH_TARGET = 1.5
# A few malformed lines per file, so quarantine is part of the work measured.
BAD_FRACTION = 0.001
REGIONS = ("US", "EU", "APAC")

# Tables compared between the baseline and the platform: row count, and revenue if any.
COMPARED = {
    "ingestion.customers": None,
    "ingestion.products": None,
    "ingestion.orders": None,
    "ingestion.sales": "quantity * unit_price",
    "transformation.customer_emails": None,
    "transformation.customer_orders": None,
    "transformation.enriched_sales": "revenue",
    "transformation.daily_sales": "revenue",
    "transformation.regional_daily_sales": "revenue",
    "analytics.sales_summary": "revenue",
    "analytics.top_products": "revenue",
    "analytics.customer_lifetime_value": "revenue",
    "analytics.daily_revenue_report": "revenue",
}


class ResultMismatch(AssertionError):
    """The platform computed something other than the baseline."""


@dataclass
class Measured:
    """Wall time and peak resident memory of a set of processes run one after another."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    runs: list[dict[str, object]] = field(default_factory=list)
    # A baseline's: the same SQL on a DuckDB file, when that was measured too.
    file_seconds: float | None = None


@dataclass
class Bench:
    """One instance home and location environments, shared by the figures of a scale."""

    root: Path
    scratch: Path
    environ: dict[str, str]
    storage: str
    bins: dict[str, Path]

    def run(
        self, argv: list[str], log: Path, environ: Mapping[str, str]
    ) -> tuple[float, float, int]:
        """Run ``argv`` to completion: wall seconds, CPU seconds and peak RSS of the
        process (an in-process run executes in it) and of the children it waited for."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(argv, env=dict(environ), stdout=out, stderr=subprocess.STDOUT)
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-25:]
            raise RuntimeError(
                f"{' '.join(argv[:4])} failed ({proc.returncode}):\n" + "\n".join(tail)
            )
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, cpu, usage.ru_maxrss * 1024  # KiB on Linux

    def data_env(self, name: str, landing: Path | str) -> dict[str, str]:
        """Settings of the warehouse ``name``: in folders under the scratch folder, or, for
        a bucket's landing, its Parquet files and exports under ``name/`` in that bucket
        (the catalog stays a SQLite file in the scratch folder either way)."""
        folder = self.scratch / name
        environ = {
            **self.environ,
            **lake_env(folder),
            "LANDING_URL": str(landing),
            "EXPORT_URL": str(folder / "exports"),
        }
        if is_url(str(landing)):
            bucket = urllib.parse.urlsplit(str(landing)).netloc
            environ["WAREHOUSE_DATA_PATH"] = f"s3://{bucket}/{name}/lake/"
            environ["EXPORT_URL"] = f"s3://{bucket}/{name}/exports"
        return environ

    def baseline(
        self, name: str, landing: Path | str, first: dt.date, last: dt.date, *, lake: bool = True
    ) -> Measured:
        """The same SQL in one DuckDB process, on a lake laid out as the platform's (the
        figures' denominator) or, with ``lake=False``, on a DuckDB file."""
        environ = self.data_env(name, landing)
        argv = [
            sys.executable,
            "-m",
            "platform_bench.baseline",
            "--landing",
            str(landing),
            "--warehouse",
            str(self.scratch / name),
            "--exports",
            environ["EXPORT_URL"],
            "--data-path",
            environ["WAREHOUSE_DATA_PATH"],
            "--first",
            first.isoformat(),
            "--last",
            last.isoformat(),
            "--format",
            "lake" if lake else "file",
        ]
        seconds, cpu, rss = self.run(argv, self.scratch / name / "baseline.log", environ)
        return Measured(seconds, cpu, rss, [{"step": "baseline", "seconds": round(seconds, 3)}])

    def floor(self, first: dt.date, last: dt.date, label: str) -> float:
        """Seconds of :mod:`platform_bench.floor`'s runs over [first, last]."""
        argv = [sys.executable, "-m", "platform_bench.floor"]
        argv += ["--first", first.isoformat(), "--last", last.isoformat()]
        log = self.scratch / "floor" / f"{label}.log"
        self.run(argv, log, self.environ)
        for line in reversed(log.read_text(errors="replace").splitlines()):
            if line.startswith('{"seconds"'):
                return float(json.loads(line)["seconds"])
        raise RuntimeError(f"no result in {log}")

    def materialize(
        self,
        name: str,
        landing: Path | str,
        steps: list[tuple[str, str, str | None]],
        label: str = "run",
    ) -> Measured:
        """``dagster asset materialize`` per step (location, selection, partition or
        range) into the warehouse ``name``."""
        environ = self.data_env(name, landing)
        measured = Measured()
        for i, (location, select, partitions) in enumerate(steps):
            bin_dir = self.bins[location]
            argv = [
                str(bin_dir / "dagster"),
                "asset",
                "materialize",
                "-m",
                f"{location}.definitions",
                "--select",
                select,
            ]
            if partitions and "..." in partitions:
                argv += ["--partition-range", partitions]
            elif partitions:
                argv += ["--partition", partitions]
            env = {**environ, "PATH": f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}"}
            log = self.scratch / name / f"{label}-{i:03d}-{location}.log"
            seconds, cpu, rss = self.run(argv, log, env)
            measured.seconds += seconds
            measured.cpu_seconds += cpu
            measured.peak_rss_bytes = max(measured.peak_rss_bytes, rss)
            measured.runs.append(
                {
                    "location": location,
                    "select": select,
                    "partitions": partitions,
                    "seconds": round(seconds, 3),
                    "cpu_seconds": round(cpu, 3),
                    "peak_rss_mb": round(rss / 2**20, 1),
                }
            )
        return measured


def ranged_steps(first: dt.date, last: dt.date) -> list[tuple[str, str, str | None]]:
    """Every asset of the three locations over [first, last], one run per partitions
    definition, in dependency order."""
    days = f"{first}...{last}"
    return [
        ("ingestion", "ingestion/customers,ingestion/products", None),
        ("ingestion", "ingestion/orders,ingestion/sales", days),
        ("transformation", "transformation/customer_emails,transformation/customer_orders", None),
        ("transformation", "transformation/enriched_sales,transformation/daily_sales", days),
        (
            "transformation",
            "transformation/regional_daily_sales",
            f"{first}|{REGIONS[0]}...{last}|{REGIONS[-1]}",
        ),
        ("analytics", ANALYTICS_SELECTION, None),
    ]


ANALYTICS_SELECTION = (
    "analytics/sales_summary,analytics/top_products,"
    "analytics/customer_lifetime_value,analytics/daily_revenue_report"
)


def per_partition_steps(days: list[dt.date]) -> list[tuple[str, str, str | None]]:
    """The partitioned runs of :func:`ranged_steps` as the default backfill policy launches
    them: one run per partition key (a date, or a date x region)."""
    steps: list[tuple[str, str, str | None]] = []
    for day in days:
        steps.append(("ingestion", "ingestion/orders,ingestion/sales", str(day)))
        steps.append(
            ("transformation", "transformation/enriched_sales,transformation/daily_sales", str(day))
        )
        for region in REGIONS:
            steps.append(
                ("transformation", "transformation/regional_daily_sales", f"{day}|{region}")
            )
    return steps


def summarize(folder: Path, data_path: str = "") -> dict[str, dict[str, str]]:
    """Row count and revenue of every compared table, and quarantined lines per feed."""
    summary: dict[str, dict[str, str]] = {}
    with read_warehouse(folder, data_path) as conn:
        for table, revenue in COMPARED.items():
            total = f"sum({revenue})" if revenue else "NULL"
            row = conn.execute(f"SELECT count(*), {total} FROM {table}").fetchone()
            assert row is not None
            value = Decimal(row[1]).quantize(Decimal("0.01")) if row[1] is not None else None
            summary[table] = {"rows": str(row[0]), "revenue": str(value)}
        for asset, count in conn.execute(
            "SELECT asset, count(*) FROM ingestion.rejected_rows GROUP BY asset ORDER BY asset"
        ).fetchall():
            summary[f"rejected.{asset}"] = {"rows": str(count), "revenue": "None"}
    return summary


def compare(
    baseline: Path, platform: Path, data_paths: tuple[str, str] = ("", "")
) -> dict[str, dict[str, str]]:
    """The platform's summary; raises :class:`ResultMismatch` if it differs at all."""
    expected, found = summarize(baseline, data_paths[0]), summarize(platform, data_paths[1])
    if expected != found:
        diff = {
            k: {"baseline": expected.get(k), "platform": found.get(k)}
            for k in sorted(set(expected) | set(found))
            if expected.get(k) != found.get(k)
        }
        raise ResultMismatch(f"platform and baseline disagree: {diff}")
    return found


@contextmanager
def bench_instance(root: Path, scratch: Path) -> Iterator[Bench]:
    """An instance home under ``scratch``: a fresh PostgreSQL database when the
    ``DAGSTER_POSTGRES_*`` role is available (dropped afterwards), SQLite otherwise."""
    environ = dict(os.environ)
    database = None
    if uses_postgres(environ):
        database = f"bench_{secrets.token_hex(4)}"
        _postgres_admin(environ, f'CREATE DATABASE "{database}"')
        environ["DAGSTER_POSTGRES_DB"] = database
    else:
        for var in POSTGRES_VARS:
            environ.pop(var, None)
    try:
        home = scratch / "home"
        topology = Topology(root=root, home=home, environ=environ)
        topology.assign_ports()
        storage = prepare_home(home, root / "dagster.yaml", environ)
        env = topology.base_env()
        initialize_storage(home, env)
        bins = {loc.name: topology.location_bin(loc.name) for loc in topology.locations}
        yield Bench(root=root, scratch=scratch, environ=env, storage=storage, bins=bins)
    finally:
        if database:
            try:
                _postgres_admin(environ, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            except Exception as exc:  # never hide the figure's own error behind this one
                progress(f"could not drop the benchmark database {database}: {exc}")


def _postgres_admin(environ: Mapping[str, str], statement: str) -> None:
    import psycopg2  # only needed with PostgreSQL

    conn = psycopg2.connect(
        host=environ["DAGSTER_POSTGRES_HOST"],
        port=int(environ["DAGSTER_POSTGRES_PORT"]),
        user=environ["DAGSTER_POSTGRES_USER"],
        password=environ["DAGSTER_POSTGRES_PASSWORD"],
        dbname=os.environ["DAGSTER_POSTGRES_DB"],
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def landing_for(context: Context, scale: Scale) -> Path:
    """The scale's landing files, generated once per benchmark run and shared by figures."""
    landing = context.scratch / "landing" / scale.label.replace("@", "_")
    marker = landing / ".complete"
    if not marker.exists():
        progress(f"generating {scale.rows:,} sales rows over {scale.days} days")
        spec = SampleSpec(
            start=FIRST_DAY,
            days=scale.days,
            sales_rows=scale.rows,
            customers=max(200, min(100_000, scale.rows // 1000)),
            products=500,
            bad_fraction=BAD_FRACTION,
        )
        generate(landing, spec)
        marker.touch()
    return landing


def _target(scale: Scale) -> float:
    return TARGET_RATIO.get(scale.label, TARGET_RATIO["default"])


def _compare_both(
    bench: Bench, baseline_name: str, platform_name: str, landing: Path | str = ""
) -> dict[str, object]:
    data_paths = ("", "")
    if is_url(str(landing)):
        data_paths = (
            bench.data_env(baseline_name, landing)["WAREHOUSE_DATA_PATH"],
            bench.data_env(platform_name, landing)["WAREHOUSE_DATA_PATH"],
        )
    summary = compare(bench.scratch / baseline_name, bench.scratch / platform_name, data_paths)
    return {
        "result_check": "passed",
        "sales_rows": int(summary["ingestion.sales"]["rows"]),
        "total_revenue": summary["transformation.enriched_sales"]["revenue"],
    }


def _lower_median(samples: list[_T], key: Callable[[_T], float]) -> _T:
    """The sample at the (lower) median of ``key``: always one that was measured."""
    return sorted(samples, key=key)[(len(samples) - 1) // 2]


def _median_sample(samples: list[Measured]) -> Measured:
    """The sample with the median wall time: a real run, so its per-run rows still add
    up to the seconds reported."""
    return _lower_median(samples, key=lambda m: m.seconds)


def run(context: Context) -> None:
    """Figure 1 per scale (whole year and a short range), with figure 6 from its runs.

    Each of ``--repeat`` samples is a baseline followed by the platform on fresh
    warehouses, and the year and the short range take turns (each first every other
    round), so a drift of the machine reaches both sides and both ranges alike; the figure reports
    the median of each side and the ratio of the two medians.
    """
    memory_by_scale: list[tuple[Scale, int]] = []
    for scale in context.scales:
        landing = landing_for(context, scale)
        last = FIRST_DAY + dt.timedelta(days=scale.days - 1)
        short = min(SHORT_DAYS, scale.days)
        tag = scale.label.replace("@", "_")
        with bench_instance(context.root, context.scratch / f"dataplane-{tag}") as bench:
            ranges = [(scale.days, last)]
            if short < scale.days:
                ranges.append((short, FIRST_DAY + dt.timedelta(days=short - 1)))
            repeat = max(1, context.repeat)
            bases: dict[int, list[Measured]] = {days: [] for days, _ in ranges}
            plats: dict[int, list[Measured]] = {days: [] for days, _ in ranges}
            checks: dict[int, dict[str, object]] = {}
            for i in range(repeat):
                for days, range_last in _in_turn(ranges, i):
                    base, plat, checks[days] = _sample(
                        bench, scale, landing, days, range_last, f"{i + 1}/{repeat}", i
                    )
                    bases[days].append(base)
                    plats[days].append(plat)
            overheads: dict[int, float] = {}
            for days, _ in ranges:
                overheads[days] = _record_range(
                    context, bench, scale, days, bases[days], plats[days], checks[days]
                )
            year = scale.days
            # Memory is a ceiling, not a typical value: the largest of every sample.
            peak = max(plats[year], key=lambda m: m.peak_rss_bytes)
            baseline_peak = max(b.peak_rss_bytes for b in bases[year])
            memory_by_scale.append((scale, peak.peak_rss_bytes))
            largest = max(peak.runs, key=lambda r: float(str(r["peak_rss_mb"])))
            context.record(
                "memory",
                scale=scale.label,
                days=year,
                peak_rss_bytes=peak.peak_rss_bytes,
                peak_rss_mb=round(peak.peak_rss_bytes / 2**20, 1),
                largest_run=f"{largest['location']}: {largest['select']}",
                baseline_peak_rss_mb=round(baseline_peak / 2**20, 1),
                target_mb=round(MEMORY_TARGET_BYTES / 2**20),
            )
            progress(
                f"memory {scale.label}: largest run {peak.peak_rss_bytes / 2**20:.0f} MB "
                f"({largest['location']}), baseline {baseline_peak / 2**20:.0f} MB"
            )
            if len(ranges) > 1:
                _record_growth(context, bench, scale, ranges, overheads)
    if len(memory_by_scale) > 1:
        (small, small_rss), (large, large_rss) = memory_by_scale[0], memory_by_scale[-1]
        row = context.record(
            "memory",
            scale=f"{large.label} vs {small.label}",
            rows_factor=round(large.rows / small.rows, 2),
            memory_factor=ratio(large_rss, small_rss),
            target_memory_factor=MEMORY_GROWTH_TARGET,
        )
        progress(
            f"memory growth {row['scale']}: x{row['rows_factor']} rows -> "
            f"x{row['memory_factor']} memory (target <= {MEMORY_GROWTH_TARGET:g})"
        )


def _in_turn(ranges: list[tuple[int, dt.date]], round_: int) -> list[tuple[int, dt.date]]:
    """The ranges in the order of sample round ``round_``: each goes first every other
    round, so a drift of the machine within a round does not favour either."""
    return ranges if round_ % 2 == 0 else ranges[::-1]


def _sample(
    bench: Bench,
    scale: Scale,
    landing: Path,
    days: int,
    last: dt.date,
    sample: str,
    index: int,
) -> tuple[Measured, Measured, dict[str, object]]:
    """One baseline and one platform pass over [FIRST_DAY, last], results compared; for the
    whole range, also the baseline on a DuckDB file (what the lake format costs)."""
    progress(f"dataplane {scale.label}: baseline, {days} days ({sample})")
    base = bench.baseline(f"baseline-{days}-{index}", landing, FIRST_DAY, last)
    progress(f"dataplane {scale.label}: baseline {base.seconds:.1f} s; platform runs")
    plat = bench.materialize(f"platform-{days}-{index}", landing, ranged_steps(FIRST_DAY, last))
    check = _compare_both(bench, f"baseline-{days}-{index}", f"platform-{days}-{index}")
    if days == scale.days:
        name = f"file-baseline-{days}-{index}"
        base.file_seconds = bench.baseline(name, landing, FIRST_DAY, last, lake=False).seconds
        _compare_both(bench, name, f"platform-{days}-{index}")
    progress(
        f"dataplane {scale.label} {days:>3} days ({sample}): platform "
        f"{plat.seconds:7.1f} s vs baseline {base.seconds:6.1f} s, "
        f"ratio {ratio(plat.seconds, base.seconds):.2f}, results equal"
    )
    return base, plat, check


def _record_range(
    context: Context,
    bench: Bench,
    scale: Scale,
    days: int,
    bases: list[Measured],
    plats: list[Measured],
    check: dict[str, object],
) -> float:
    """The figure's row for one range; returns its overhead in seconds."""
    base, plat = _median_sample(bases), _median_sample(plats)
    row = context.record(
        "dataplane",
        scale=scale.label,
        days=days,
        storage=bench.storage,
        baseline_seconds=round(base.seconds, 3),
        seconds=round(plat.seconds, 3),
        ratio=ratio(plat.seconds, base.seconds),
        overhead_seconds=round(plat.seconds - base.seconds, 3),
        **_file_baseline(base),
        # CPU time of the processes: less sensitive to a busy machine.
        baseline_cpu_seconds=round(base.cpu_seconds, 3),
        cpu_seconds=round(plat.cpu_seconds, 3),
        cpu_ratio=ratio(plat.cpu_seconds, base.cpu_seconds),
        target_ratio=_target(scale) if days == scale.days else None,
        runs=plat.runs,
        repeat=len(plats),
        samples=[
            {
                "baseline_seconds": round(b.seconds, 3),
                "seconds": round(m.seconds, 3),
                "peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1),
            }
            for b, m in zip(bases, plats, strict=True)
        ],
        **check,
    )
    progress(
        f"dataplane {scale.label} {days:>3} days, median of {len(plats)}: "
        f"platform {plat.seconds:7.1f} s vs baseline {base.seconds:6.1f} s, ratio "
        f"{row['ratio']:.2f}, overhead {row['overhead_seconds']:.1f} s"
    )
    return plat.seconds - base.seconds


def _file_baseline(base: Measured) -> dict[str, object]:
    """The same SQL on a DuckDB file in the median baseline's sample: the lake format's
    own cost."""
    if base.file_seconds is None:
        return {}
    return {
        "file_baseline_seconds": round(base.file_seconds, 3),
        "lake_baseline_vs_file": ratio(base.seconds, base.file_seconds),
    }


def _record_growth(
    context: Context,
    bench: Bench,
    scale: Scale,
    ranges: list[tuple[int, dt.date]],
    overheads: dict[int, float],
) -> None:
    """How much the overhead grows from the short range to the year, against what
    Dagster's own events for the same partitioned runs grow by (:mod:`.floor`)."""
    samples: dict[int, list[float]] = {days: [] for days, _ in ranges}
    for i in range(max(1, context.repeat)):
        for days, range_last in _in_turn(ranges, i):
            samples[days].append(bench.floor(FIRST_DAY, range_last, f"{days}-{i}"))
    floors = {days: _lower_median(v, key=float) for days, v in samples.items()}
    for days, seconds in floors.items():
        progress(f"dataplane {scale.label}: Dagster's floor over {days} days {seconds:.2f} s")
    (year, _), (short, _) = ranges
    growth = overheads[year] - overheads[short]
    floor_growth = floors[year] - floors[short]
    row = context.record(
        "dataplane_growth",
        scale=scale.label,
        days=[short, year],
        overhead_growth_seconds=round(growth, 3),
        floor_seconds={str(d): round(f, 3) for d, f in floors.items()},
        floor_growth_seconds=round(floor_growth, 3),
        beyond_floor_seconds=round(growth - floor_growth, 3),
    )
    progress(
        f"dataplane {scale.label}: overhead grows {growth:.1f} s from {short} to {year} days; "
        f"Dagster's own events for the same runs grow {floor_growth:.1f} s; "
        f"beyond that {row['beyond_floor_seconds']:.1f} s"
    )


def run_backfill(context: Context) -> None:
    """Figure 2 per scale: ranged backfill of every day vs one range query per table."""
    for scale in context.scales:
        landing = landing_for(context, scale)
        last = FIRST_DAY + dt.timedelta(days=scale.days - 1)
        tag = scale.label.replace("@", "_")
        with bench_instance(context.root, context.scratch / f"backfill-{tag}") as bench:
            progress(f"backfill {scale.label}: baseline, {scale.days} days")
            base = bench.baseline("baseline", landing, FIRST_DAY, last)
            progress(f"backfill {scale.label}: ranged runs over {scale.days} partitions")
            plat = bench.materialize("ranged", landing, ranged_steps(FIRST_DAY, last))
            check = _compare_both(bench, "baseline", "ranged")
            row = context.record(
                "backfill",
                scale=scale.label,
                partitions=scale.days,
                launched_as="ranged runs (dagster asset materialize --partition-range)",
                storage=bench.storage,
                baseline_seconds=round(base.seconds, 3),
                seconds=round(plat.seconds, 3),
                ratio=ratio(plat.seconds, base.seconds),
                target_ratio=BACKFILL_TARGET_RATIO,
                baseline_cpu_seconds=round(base.cpu_seconds, 3),
                cpu_seconds=round(plat.cpu_seconds, 3),
                cpu_ratio=ratio(plat.cpu_seconds, base.cpu_seconds),
                runs=len(plat.runs),
                repeat=1,
                **check,
            )
            progress(
                f"backfill {scale.label} {scale.days} partitions: {plat.seconds:.1f} s in "
                f"{len(plat.runs)} runs vs baseline {base.seconds:.1f} s, ratio {row['ratio']:.2f}"
            )
            days = [
                FIRST_DAY + dt.timedelta(days=i) for i in range(min(PER_PARTITION_DAYS, scale.days))
            ]
            progress(f"backfill {scale.label}: one run per partition over {len(days)} days")
            # Into the backfilled warehouse: the reference tables are there, the days are
            # replaced with the same rows, and the results must still match the baseline.
            each = bench.materialize("ranged", landing, per_partition_steps(days), "partition")
            _compare_both(bench, "baseline", "ranged")
            fixed = sum(float(str(r["seconds"])) for r in plat.runs if r["partitions"] is None)
            per_partition = each.seconds / len(days)
            extrapolated = fixed + per_partition * scale.days
            row = context.record(
                "backfill",
                scale=scale.label,
                partitions=len(days),
                launched_as="one run per partition key (default backfill policy)",
                storage=bench.storage,
                seconds=round(each.seconds, 3),
                runs=len(each.runs),
                per_partition_seconds=round(per_partition, 3),
                extrapolated_partitions=scale.days,
                extrapolated_seconds=round(extrapolated, 1),
                extrapolated_ratio=ratio(extrapolated, base.seconds),
                note=(
                    "extrapolation: unpartitioned runs of the ranged backfill + "
                    "measured cost per partition x partitions"
                ),
            )
            progress(
                f"backfill {scale.label} one run per partition: {per_partition:.1f} s per "
                f"partition, extrapolated to {scale.days}: {extrapolated:.0f} s "
                f"(ratio {row['extrapolated_ratio']:.1f}, an extrapolation)"
            )


def run_s3(context: Context) -> None:
    """Figure 1 over the whole range with every file in a bucket of a local S3 server.

    Each sample runs the baseline on the bucket, the platform on the bucket, and the
    platform on folders (each first every other round); the figure reports the medians,
    the platform's ratio to the baseline on the bucket, and its ratio to itself on folders.
    """
    # The results are compared from this process, which reads the bucket's lakes too.
    with s3_server() as settings, s3_environment(settings):
        for scale in context.scales:
            _s3_scale(context, scale, settings, settings.environ())


def _s3_scale(
    context: Context, scale: Scale, settings: S3Settings, environ: dict[str, str]
) -> None:
    folder_landing = landing_for(context, scale)
    bucket = f"bench-{secrets.token_hex(6)}"
    s3_client(settings).create_bucket(Bucket=bucket)
    landing = BucketStore(bucket, "landing", settings)
    started = time.perf_counter()
    files = sorted(p for p in folder_landing.rglob("*.csv"))
    for path in files:
        landing.put_file(path.relative_to(folder_landing).as_posix(), path)
    progress(
        f"dataplane-s3 {scale.label}: {len(files)} files uploaded in "
        f"{time.perf_counter() - started:.1f} s"
    )
    last = FIRST_DAY + dt.timedelta(days=scale.days - 1)
    tag = scale.label.replace("@", "_")
    with bench_instance(context.root, context.scratch / f"dataplane-s3-{tag}") as bench:
        bench.environ.update(environ)
        bases: list[Measured] = []
        plats: list[Measured] = []
        folders: list[Measured] = []
        check: dict[str, object] = {}
        repeat = max(1, context.repeat)
        for i in range(repeat):
            sample = f"{i + 1}/{repeat}"
            if i % 2 == 1:
                folders.append(_folder_platform(bench, folder_landing, last, i))
            progress(f"dataplane-s3 {scale.label}: baseline on the bucket ({sample})")
            base = bench.baseline(f"s3-baseline-{i}", landing.url, FIRST_DAY, last)
            progress(f"dataplane-s3 {scale.label}: platform on the bucket ({sample})")
            plat = bench.materialize(f"s3-platform-{i}", landing.url, ranged_steps(FIRST_DAY, last))
            check = _compare_both(bench, f"s3-baseline-{i}", f"s3-platform-{i}", landing.url)
            if i % 2 == 0:
                folders.append(_folder_platform(bench, folder_landing, last, i))
            bases.append(base)
            plats.append(plat)
            progress(
                f"dataplane-s3 {scale.label} ({sample}): bucket {plat.seconds:.1f} s vs "
                f"baseline {base.seconds:.1f} s, folders {folders[-1].seconds:.1f} s"
            )
        base, plat = _median_sample(bases), _median_sample(plats)
        folder = _median_sample(folders)
        row = context.record(
            "dataplane-s3",
            scale=scale.label,
            days=scale.days,
            storage=bench.storage,
            baseline_seconds=round(base.seconds, 3),
            seconds=round(plat.seconds, 3),
            ratio=ratio(plat.seconds, base.seconds),
            folder_seconds=round(folder.seconds, 3),
            vs_folder=ratio(plat.seconds, folder.seconds),
            target_vs_folder=S3_TARGET_VS_FOLDER if scale.label == "10M" else None,
            runs=plat.runs,
            repeat=len(plats),
            samples=[
                {
                    "baseline_seconds": round(b.seconds, 3),
                    "seconds": round(m.seconds, 3),
                    "folder_seconds": round(f.seconds, 3),
                }
                for b, m, f in zip(bases, plats, folders, strict=True)
            ],
            **check,
        )
        progress(
            f"dataplane-s3 {scale.label}, median of {len(plats)}: bucket {plat.seconds:.1f} s, "
            f"ratio {row['ratio']:.2f} to its baseline, x{row['vs_folder']:.2f} the platform "
            f"on folders ({folder.seconds:.1f} s)"
        )


def _folder_platform(bench: Bench, landing: Path, last: dt.date, index: int) -> Measured:
    return bench.materialize(f"folder-platform-{index}", landing, ranged_steps(FIRST_DAY, last))
