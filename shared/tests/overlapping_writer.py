"""Replace partitions of a table the other writers replace too; run as a separate process.

Usage: overlapping_writer.py WRITER PARTITIONS (the lake from WAREHOUSE_CATALOG and
WAREHOUSE_DATA_PATH, like a location's run)
"""

from __future__ import annotations

import os
import sys

import duckdb
from dagster import asset, materialize

from platform_shared.resources import WarehouseResource, warehouse


def main(writer: int, partitions: int) -> int:
    @asset(name=f"writer_{writer}")
    def write(warehouse: WarehouseResource) -> None:
        # One short transaction per partition, so the writers interleave.
        for p in range(partitions):

            def replace(conn: duckdb.DuckDBPyConnection, p: int = p) -> None:
                conn.execute("CREATE TABLE IF NOT EXISTS w (writer INT, p INT, pid INT)")
                conn.execute("DELETE FROM w WHERE p = ?", [p])
                conn.execute(
                    "INSERT INTO w SELECT ?, ?, ? FROM range(100)", [writer, p, os.getpid()]
                )

            warehouse.write(replace, what=f"w partition {p}")

    result = materialize([write], resources={"warehouse": warehouse()})
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
