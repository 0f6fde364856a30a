"""Figure 5, per-asset overhead: a chain of trivial assets materialized through a
PostgreSQL-backed instance, against calling the same bodies directly.

The assets form a chain (``asset_1`` depends on ``asset_0`` and so on) so every step
waits for the previous one, as the platform's partition loads do; the bodies exchange
nothing (``deps``, no IO manager), so what is measured is Dagster's own bookkeeping:
planning, step events, storage round trips. The figure's executor is the locations'
``in_process_executor``; the multiprocess executor is measured on a shorter chain for
contrast, because each of its steps starts a Python process.

Where the time goes (pyinstrument on the in-process chain): almost all of it is waiting
for PostgreSQL, very little is CPU. Per step Dagster reads the upstream asset records
(data versions), writes the start, materialization and success events and, when the
run is created, one planned event per asset. Stock dagster-postgres opens a new
connection for every such call (``NullPool`` outside the webserver): 13 per asset at
7 ms each was most of the overhead, which is why the instance uses
``platform_instance.storage`` and its kept connections. The figure records how many
connections one asset opens and what opening one costs, the two numbers that explain
the result.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    JobDefinition,
    asset,
    build_reconstructable_job,
    define_asset_job,
    execute_job,
    in_process_executor,
    multiprocess_executor,
)
from psycopg2 import sql

from platform_bench.common import Context, median_seconds, progress, timed
from platform_stack.instance import POSTGRES_VARS, environment, prepare_home

ASSETS = 50
MULTIPROCESS_ASSETS = 5
TARGET_SECONDS_PER_ASSET = 0.15


def _body(index: int) -> int:
    """The work of one asset: small enough that any measured time is overhead."""
    return sum(range(index, index + 100))


def _chain_asset(index: int, upstream: list[AssetsDefinition]) -> AssetsDefinition:
    @asset(name=f"asset_{index}", deps=upstream, group_name="overhead")
    def step() -> None:
        _body(index)

    return step


def chain(n: int) -> list[AssetsDefinition]:
    """``n`` assets, each depending on the previous one and calling :func:`_body`."""
    assets: list[AssetsDefinition] = []
    for i in range(n):
        assets.append(_chain_asset(i, assets[-1:]))
    return assets


def chain_job(n: int, executor: str) -> JobDefinition:
    """The chain as a job on ``executor`` (built by name so run workers can rebuild it)."""
    executors = {
        "in_process": in_process_executor,
        # One step at a time: the chain allows no parallelism, and the figure is about
        # the cost of a step's process, not about using both cores.
        "multiprocess": multiprocess_executor.configured({"max_concurrent": 1}),
    }
    defs = Definitions(
        assets=chain(n), jobs=[define_asset_job("overhead_chain")], executor=executors[executor]
    )
    return defs.resolve_job_def("overhead_chain")


def connect(environ: Mapping[str, str]):
    """A psycopg2 connection to the database ``DAGSTER_POSTGRES_*`` name."""
    return psycopg2.connect(
        host=environ["DAGSTER_POSTGRES_HOST"],
        port=int(environ["DAGSTER_POSTGRES_PORT"]),
        user=environ["DAGSTER_POSTGRES_USER"],
        password=environ["DAGSTER_POSTGRES_PASSWORD"],
        dbname=environ["DAGSTER_POSTGRES_DB"],
    )


@contextmanager
def postgres_database(environ: Mapping[str, str], prefix: str) -> Iterator[dict[str, str]]:
    """``DAGSTER_POSTGRES_*`` of a database created for the block and dropped after it.

    The variables in ``environ`` must name a role allowed to create databases
    (``source deploy/ci/services.sh``).
    """
    missing = [v for v in POSTGRES_VARS if not environ.get(v)]
    if missing:
        raise SystemExit(
            f"this benchmark needs PostgreSQL: set {', '.join(missing)} "
            "(for example `source deploy/ci/services.sh`)"
        )
    name = f"{prefix}_{secrets.token_hex(4)}"
    _admin(environ, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {**{v: environ[v] for v in POSTGRES_VARS}, "DAGSTER_POSTGRES_DB": name}
    finally:
        # A connection of its own: one held through a long figure may have been dropped.
        _admin(
            environ, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _admin(environ: Mapping[str, str], statement: sql.Composed) -> None:
    with closing(connect(environ)) as conn:
        # CREATE and DROP DATABASE refuse to run inside a transaction.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)


def _materialize(instance: DagsterInstance, n: int, executor: str) -> None:
    job = build_reconstructable_job(
        __name__, chain_job.__name__, reconstructable_kwargs={"n": n, "executor": executor}
    )
    with execute_job(job, instance=instance) as result:
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        if not result.success or len(materialized) != n:
            raise RuntimeError(f"overhead run {result.run_id}: {len(materialized)} of {n} assets")


def _samples(instance: DagsterInstance, n: int, executor: str, repeat: int) -> list[float]:
    samples = []
    for i in range(repeat):
        samples.append(timed(lambda: _materialize(instance, n, executor)))
        progress(f"overhead {executor:<12} run {i + 1}/{repeat}: {samples[-1]:.2f} s")
    return samples


def samples_in_child(n: int, executor: str, repeat: int, out: str) -> None:
    """Measure in a process whose main module is not the benchmark's.

    The multiprocess executor spawns its step processes, and a spawned process imports
    the parent's main module again: ``python -m platform_bench`` would start the
    whole benchmark in every step. A ``python -c`` parent has no main module to import.
    """
    with DagsterInstance.get() as instance:
        _materialize(instance, n, executor)  # warm-up, as for the in-process case
        Path(out).write_text(json.dumps(_samples(instance, n, executor, repeat)))


def _child_samples(context: Context, home: Path, n: int, executor: str) -> list[float]:
    out = home.parent / f"{executor}-samples.json"
    code = (
        "from platform_bench.overhead import samples_in_child; "
        f"samples_in_child({n}, {executor!r}, {context.repeat}, {str(out)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=home.parent)
    return json.loads(out.read_text())


def _sessions(pg: Mapping[str, str]) -> int:
    """Connections ever opened to the database (PostgreSQL counts them at disconnect)."""
    with closing(connect(pg)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def storage_connections(
    instance: DagsterInstance, pg: Mapping[str, str], n: int, repeat: int
) -> dict[str, float]:
    """What the chain costs in PostgreSQL connections: how many one asset opens, and what
    opening one costs."""
    connect_seconds = median_seconds(lambda: connect(pg).close(), max(5, repeat))
    before = _sessions(pg)
    _materialize(instance, n, "in_process")
    # A backend reports its session when it exits, a moment after the client closed it.
    time.sleep(1.0)
    opened = _sessions(pg) - before - 1  # the first probe's own session
    return {
        "connections_per_asset": round(opened / n, 1),
        "connect_seconds": connect_seconds,
    }


def run(
    context: Context, assets: int = ASSETS, multiprocess_assets: int = MULTIPROCESS_ASSETS
) -> None:
    """Record one row per executor: median platform time, direct time, per-asset overhead."""
    home = context.scratch / "overhead" / "home"
    with postgres_database(os.environ, "dagster_bench") as pg:
        prepare_home(home, context.root / "dagster.yaml", pg)
        with (
            environment({**pg, "DAGSTER_HOME": str(home)}),
            DagsterInstance.from_config(str(home)) as instance,
        ):
            # One warm-up run: imports and the first queries of a fresh schema are paid
            # once per process, not per asset.
            _materialize(instance, assets, "in_process")
            cases = [("in_process", assets)]
            if multiprocess_assets > 0:
                cases.append(("multiprocess", multiprocess_assets))
            for executor, n in cases:
                bodies = [functools.partial(_body, i) for i in range(n)]
                direct = median_seconds(lambda bodies=bodies: [b() for b in bodies], context.repeat)
                if executor == "in_process":
                    samples = _samples(instance, n, executor, context.repeat)
                else:
                    samples = _child_samples(context, home, n, executor)
                platform = statistics.median(samples)
                per_asset = (platform - direct) / n
                storage = {}
                if executor == "in_process":
                    storage = storage_connections(instance, pg, n, context.repeat)
                    progress(
                        f"overhead {executor:<12} each asset opens "
                        f"{storage['connections_per_asset']:.0f} PostgreSQL connections of "
                        f"{storage['connect_seconds'] * 1000:.1f} ms each"
                    )
                context.record(
                    "overhead",
                    executor=executor,
                    shape="chain",
                    assets=n,
                    storage="postgres",
                    platform_seconds=platform,
                    direct_seconds=direct,
                    per_asset_seconds=per_asset,
                    target_per_asset_seconds=TARGET_SECONDS_PER_ASSET,
                    repeat=context.repeat,
                    # Other work on the machine shows in every figure; keep it with them.
                    load_average_1m=round(os.getloadavg()[0], 2),
                    **storage,
                )
                progress(
                    f"overhead {executor:<12} {n} assets {platform:6.2f} s vs direct "
                    f"{direct * 1000:.3f} ms: {per_asset:.3f} s per asset "
                    f"(target <= {TARGET_SECONDS_PER_ASSET:g})"
                )
