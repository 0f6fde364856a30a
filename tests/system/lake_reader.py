"""A reader of the lake in a process of its own, as a notebook or BI tool would be.

Run as ``python -m tests.system.lake_reader OUT STOP``: until the file ``STOP`` exists, it
reads ``analytics.sales_summary`` in a loop, each read one transaction that also notes the
snapshot it saw, and appends one JSON line per read to ``OUT``: the snapshot id, the row
count and the revenue total, or the error. It attaches the lake afresh every few reads, so
attaching while writers commit is exercised too. The warehouse settings come from the
environment, the platform's own (``WAREHOUSE_CATALOG``, ``WAREHOUSE_DATA_PATH``, the
catalog's password).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from platform_shared.lake import CATALOG, Catalog, attach
from platform_shared.settings import current

READS_PER_CONNECTION = 10
PAUSE_SECONDS = 0.1


def read_once(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
    conn.execute("BEGIN TRANSACTION")
    try:
        snapshot = conn.execute(f"SELECT id FROM {CATALOG}.current_snapshot()").fetchone()
        totals = conn.execute(
            "SELECT count(*), sum(revenue)::VARCHAR FROM analytics.sales_summary"
        ).fetchone()
    finally:
        conn.execute("COMMIT")
    assert snapshot is not None
    assert totals is not None
    return {"at": time.time(), "snapshot": snapshot[0], "rows": totals[0], "revenue": totals[1]}


def attached() -> duckdb.DuckDBPyConnection:
    """A new DuckDB with the lake attached read-only, as a notebook attaches it: each one
    reads the catalog afresh (the warehouse resource would reuse its attachment)."""
    conn = duckdb.connect(config={"autoinstall_known_extensions": False})
    attach(
        conn,
        Catalog.parse(current("WAREHOUSE_CATALOG")),
        current("WAREHOUSE_DATA_PATH"),
        read_only=True,
    )
    return conn


def main(out: Path, stop: Path) -> None:
    last_round = False
    with out.open("a") as log:
        while not last_round:
            # One read after the stop file appears: the writers are done by then, so the
            # last line holds the final totals.
            last_round = stop.exists()
            try:
                with attached() as conn:
                    for _ in range(READS_PER_CONNECTION):
                        started = time.monotonic()
                        line = read_once(conn)
                        line["seconds"] = round(time.monotonic() - started, 3)
                        log.write(json.dumps(line) + "\n")
                        log.flush()
                        time.sleep(PAUSE_SECONDS)
            except Exception as exc:  # every error is the test's finding
                log.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
                log.flush()
                time.sleep(PAUSE_SECONDS)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
