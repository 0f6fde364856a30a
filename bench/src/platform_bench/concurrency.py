"""Figure 8, concurrency: runs of all three locations against the one lake, first one
after another, then all at the same time.

Each run is ``dagster asset materialize`` from the location's own environment
(``.venvs/<location>``) against one PostgreSQL-backed instance home, the same in-process
executor as the run worker a code server starts for a queued run; the daemon's dequeue
delay is left out because it is not contention. The work is real and chosen so the three
runs can overlap without waiting on each other's data: ingestion loads the second half of
the sample days, transformation rebuilds the first half (loaded during set-up), analytics
rebuilds its marts over what is there.

Reported: total wall time serial vs concurrent (median over ``--repeat``), failed runs,
lock failures (failed steps whose error mentions a lock, and lock errors in the runs'
output) and whether every partition of the sample data is in the warehouse exactly
once afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from platform_bench.common import Context, Scale, lake_env, progress, ratio, read_warehouse
from platform_bench.overhead import postgres_database
from platform_shared.sample_data import SampleSpec, generate
from platform_shared.settings import with_defaults
from platform_stack.instance import environment, initialize_storage, prepare_home
from platform_stack.workspace import read_locations

# The lake takes every location's writers at once: overlapping work should take little
# more than its longest run, not the sum of the three.
TARGET_RATIO = 0.6
# The figure needs a few days of data, not a year: the first scale's rows over this many
# days at most.
MAX_DAYS = 30
LOCK_ERROR = "could not set lock"


@dataclass(frozen=True)
class Run:
    """One ``dagster asset materialize`` of a location."""

    location: str
    select: list[str]
    partitions: tuple[dt.date, dt.date] | None = None

    def argv(self, root: Path, module: str) -> list[str]:
        argv = [
            str(root / ".venvs" / self.location / "bin" / "dagster"),
            "asset",
            "materialize",
            "-m",
            module,
            "--select",
            ",".join(f"{self.location}/{name}" for name in self.select),
        ]
        if self.partitions:
            first, last = self.partitions
            argv += ["--partition-range", f"{first}...{last}"]
        return argv


def _halves(spec: SampleSpec) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    days = spec.dates()
    middle = len(days) // 2
    return (days[0], days[middle - 1]), (days[middle], days[-1])


def plan(spec: SampleSpec) -> tuple[list[list[Run]], list[Run]]:
    """Set-up runs (untimed, step by step) and the three measured runs."""
    loaded, fresh = _halves(spec)
    # Two steps of two runs each; the runs of a step may overlap, they share no data.
    setup = [
        [
            Run("ingestion", ["customers", "products"]),
            Run("ingestion", ["orders", "sales"], loaded),
        ],
        [
            Run("transformation", ["customer_emails", "customer_orders"]),
            Run("transformation", ["enriched_sales", "daily_sales"], loaded),
        ],
    ]
    measured = [
        Run("ingestion", ["orders", "sales"], fresh),
        Run("transformation", ["enriched_sales", "daily_sales"], loaded),
        Run("analytics", ["sales_summary", "top_products", "customer_lifetime_value"]),
    ]
    return setup, measured


class Runner:
    """Starts location runs as subprocesses and keeps their output."""

    def __init__(self, root: Path, environ: dict[str, str], logs: Path) -> None:
        self.root = root
        self.environ = environ
        self.logs = logs
        self.modules = {loc.name: loc.module for loc in read_locations(root / "workspace.yaml")}
        self.count = 0

    def start(self, run: Run, phase: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.count += 1
        log = self.logs / f"{self.count:03d}-{phase}-{run.location}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        bin_dir = self.root / ".venvs" / run.location / "bin"
        env = {
            **self.environ,
            "PATH": f"{bin_dir}{os.pathsep}{self.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(bin_dir.parent),
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                run.argv(self.root, self.modules[run.location]),
                cwd=self.logs,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return proc, log

    def wait(self, started: list[tuple[Run, subprocess.Popen[bytes], Path]], phase: str) -> None:
        try:
            for run, proc, log in started:
                code = proc.wait()
                progress(f"concurrency {phase:<10} {run.location:<15} exit {code}")
                if code != 0:
                    # The error's own message sits above a long traceback: keep both.
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
                    raise RuntimeError(f"{phase} run of {run.location} failed:\n{tail}")
        finally:
            # A failure leaves no run behind: the others are stopped by their own PIDs.
            for _, proc, _ in started:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(30)

    def serial(self, runs: list[Run], phase: str) -> float:
        started = time.perf_counter()
        for run in runs:
            proc, log = self.start(run, phase)
            self.wait([(run, proc, log)], phase)
        return time.perf_counter() - started

    def concurrent(self, runs: list[Run], phase: str) -> float:
        started = time.perf_counter()
        procs = [(run, *self.start(run, phase)) for run in runs]
        self.wait(procs, phase)
        return time.perf_counter() - started


def run_outcomes(instance: DagsterInstance, logs: Path) -> dict[str, int]:
    """Failed runs and steps, lock failures, and steps that queued on a pool.

    A lock failure is a failed step or run whose error mentions DuckDB's file lock, or a
    lock error anywhere in the runs' output. A step that waited for a ``warehouse`` slot
    is counted once however often it retried its claim.
    """
    records = instance.get_run_records()
    failed_runs = sum(1 for r in records if r.dagster_run.status != DagsterRunStatus.SUCCESS)
    failed_steps, locked_events = 0, 0
    waited: set[tuple[str, str | None]] = set()
    for record in records:
        run_id = record.dagster_run.run_id
        for entry in instance.all_logs(
            run_id,
            of_type={
                DagsterEventType.STEP_FAILURE,
                DagsterEventType.RUN_FAILURE,
                DagsterEventType.ENGINE_EVENT,
            },
        ):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.ENGINE_EVENT:
                if "blocked by limit for pool" in entry.user_message:
                    waited.add((run_id, entry.step_key))
                continue
            failed_steps += event.event_type == DagsterEventType.STEP_FAILURE
            text = f"{entry.user_message} {event.event_specific_data}"
            locked_events += LOCK_ERROR in text.lower()
    locked_lines = sum(
        line.lower().count(LOCK_ERROR)
        for log in logs.glob("*.log")
        for line in log.read_text(errors="replace").splitlines()
    )
    return {
        "runs": len(records),
        "failed_runs": failed_runs,
        "failed_steps": failed_steps,
        "lock_failures": locked_events + locked_lines,
        "steps_waited_for_pool": len(waited),
    }


def partition_counts(database: Path, spec: SampleSpec) -> dict[str, object]:
    """Every sample partition present exactly once in every table that holds it."""
    loaded, _ = _halves(spec)
    all_days = set(spec.dates())
    first_half = {d for d in all_days if loaded[0] <= d <= loaded[1]}
    # table -> (date column, row id column, days it must hold)
    tables = {
        "ingestion.sales": ("sale_date", "sale_id", all_days),
        "ingestion.orders": ("order_date", "order_id", all_days),
        "transformation.enriched_sales": ("sale_date", "sale_id", first_half),
        "transformation.daily_sales": ("date", "date", first_half),
    }
    problems: list[str] = []
    with read_warehouse(database) as conn:
        for table, (day, row_id, expected) in tables.items():
            rows = conn.execute(
                f"SELECT {day}, count(*), count(DISTINCT {row_id}) FROM {table} GROUP BY 1"
            ).fetchall()
            days = {r[0] for r in rows}
            problems += [f"{table}: {d} missing" for d in sorted(expected - days)]
            problems += [f"{table}: {d} unexpected" for d in sorted(days - expected)]
            problems += [f"{table}: {d} has {n} rows, {k} distinct" for d, n, k in rows if n != k]
        # A sale line is in enriched_sales exactly as often as ingestion loaded it.
        (mismatched,) = conn.execute(
            "SELECT count(*) FROM (SELECT sale_date, count(*) AS n FROM ingestion.sales "
            "GROUP BY 1) i JOIN (SELECT sale_date, count(*) AS n "
            "FROM transformation.enriched_sales GROUP BY 1) e USING (sale_date) "
            "WHERE i.n <> e.n"
        ).fetchone() or (0,)
        if mismatched:
            problems.append(f"enriched_sales: {mismatched} days differ from ingestion.sales")
        (sales_rows,) = conn.execute("SELECT count(*) FROM ingestion.sales").fetchone() or (0,)
        (customers,) = conn.execute(
            "SELECT count(*) - count(DISTINCT customer_id) FROM analytics.customer_lifetime_value"
        ).fetchone() or (0,)
        if customers:
            problems.append(f"customer_lifetime_value: {customers} duplicate customers")
    return {
        "days": len(all_days),
        "sales_rows": int(sales_rows),
        "partition_problems": problems,
        "partitions_exactly_once": not problems,
    }


def run(context: Context) -> None:
    scale: Scale = context.scales[0]
    days = max(2, min(scale.days, MAX_DAYS))
    spec = SampleSpec(days=days, sales_rows=scale.rows)
    scratch = context.scratch / "concurrency"
    landing, warehouse, home = scratch / "landing", scratch / "warehouse", scratch / "home"
    progress(f"concurrency sample data: {scale.rows} sales rows over {days} days")
    generate(landing, spec)
    setup, measured = plan(spec)
    with postgres_database(os.environ, "dagster_bench") as pg:
        environ = with_defaults(
            {
                **os.environ,
                **pg,
                "DAGSTER_HOME": str(home),
                **lake_env(warehouse),
                "LANDING_URL": str(landing),
                "EXPORT_URL": str(scratch / "exports"),
            }
        )
        prepare_home(home, context.root / "dagster.yaml", environ)
        initialize_storage(home, environ)
        runner = Runner(context.root, environ, scratch / "runs")
        progress("concurrency set-up: reference data and the first half of the days")
        for step in setup:
            runner.concurrent(step, "setup")
        serial_samples, concurrent_samples = [], []
        for i in range(context.repeat):
            serial_samples.append(runner.serial(measured, "serial"))
            concurrent_samples.append(runner.concurrent(measured, "concurrent"))
            progress(
                f"concurrency round {i + 1}/{context.repeat}: serial {serial_samples[-1]:.1f} s, "
                f"concurrent {concurrent_samples[-1]:.1f} s"
            )
        with (
            environment({**pg, "DAGSTER_HOME": str(home)}),
            DagsterInstance.from_config(str(home)) as instance,
        ):
            failures = run_outcomes(instance, runner.logs)
    serial = statistics.median(serial_samples)
    concurrent = statistics.median(concurrent_samples)
    data = partition_counts(warehouse, spec)
    row = context.record(
        "concurrency",
        scale=Scale(scale.rows, days).label,
        runs_per_round=[f"{r.location}:{','.join(r.select)}" for r in measured],
        serial_seconds=serial,
        concurrent_seconds=concurrent,
        ratio=ratio(concurrent, serial),
        target_ratio=TARGET_RATIO,
        repeat=context.repeat,
        load_average_1m=round(os.getloadavg()[0], 2),
        **failures,
        **data,
    )
    progress(
        f"concurrency serial {serial:.1f} s, concurrent {concurrent:.1f} s, "
        f"ratio {row['ratio']:.2f} (target <= {TARGET_RATIO:g}); "
        f"{failures['lock_failures']} lock failures, {failures['failed_runs']} failed runs, "
        f"{failures['steps_waited_for_pool']} steps waited for a pool, "
        f"partitions exactly once: {data['partitions_exactly_once']}"
    )
