"""Materialize partitions into a shared warehouse file; run as a separate process.

Usage: overlapping_writer.py DATABASE WRITER PARTITIONS
"""

from __future__ import annotations

import os
import sys

from dagster import asset, materialize

from platform_shared.resources import WAREHOUSE_POOL, WarehouseResource


def main(database: str, writer: int, partitions: int) -> int:
    @asset(name=f"writer_{writer}", pool=WAREHOUSE_POOL)
    def write(warehouse: WarehouseResource) -> None:
        # One short transaction per partition, so the writers interleave on the lock.
        for p in range(partitions):
            with warehouse.transaction() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS w (writer INT, p INT, pid INT)")
                conn.execute("DELETE FROM w WHERE writer = ? AND p = ?", [writer, p])
                conn.execute(
                    "INSERT INTO w SELECT ?, ?, ? FROM range(100)", [writer, p, os.getpid()]
                )

    result = materialize([write], resources={"warehouse": WarehouseResource(database=database)})
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
