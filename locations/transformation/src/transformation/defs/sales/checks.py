"""Quality checks of ``enriched_sales``, the table every sales figure downstream is built on.

The checks are declared on the asset (``check_specs``) and evaluated in the same step,
right after the write, over exactly the partitions the run replaced; a run over a range
of days checks the whole range in one query per check. All four are blocking: when one
fails, ``daily_sales`` in the same run does not execute and the regional sensor skips the
run's materializations, because every total built on these rows would be wrong.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from platform_shared.quality import failing_rows_check
from transformation.defs.sales import SQL
from transformation.keys import ENRICHED_SALES

# check name -> what a failing row means
_RULES = {
    "known_products_and_customers": (
        "Every sale line's product and customer exist in ingestion's snapshots; a line with "
        "an unknown one has no category or region and would be misreported."
    ),
    "unique_sale_id": (
        "No sale_id of the checked days occurs twice in the table; a repeated line would "
        "be counted twice."
    ),
    "revenue_not_negative": "No sale line has a negative revenue.",
    "reconciles_with_ingestion": (
        "Per day, line count and revenue equal those of ingestion.sales: nothing lost, "
        "duplicated or repriced on the way."
    ),
}

ENRICHED_SALES_CHECKS = [
    dg.AssetCheckSpec(name, asset=ENRICHED_SALES, blocking=True, description=rule)
    for name, rule in _RULES.items()
]


def enriched_sales_check_results(
    conn: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date
) -> list[dg.AssetCheckResult]:
    """Evaluate every check over ``sale_date`` in [first, last]."""
    checked = dg.MetadataValue.text(f"{first.isoformat()}..{last.isoformat()}")
    results = []
    for name, rule in _RULES.items():
        result = failing_rows_check(
            conn,
            SQL.query(f"checks/{name}"),
            [first, last],
            check_name=name,
            description=rule,
        )
        results.append(result.with_metadata({**result.metadata, "checked_dates": checked}))
    return results
