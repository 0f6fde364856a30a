"""The customer sensors: a new customer snapshot or new orders -> the customer models."""

from __future__ import annotations

import dagster as dg

from platform_shared.cross_location import recover_cursor, run_key, runs_failing_blocking_checks
from transformation.defs import jobs
from transformation.defs.sensors.common import RUNNING, never_loaded, result
from transformation.defs.sensors.triggers import read_batch
from transformation.keys import CUSTOMER_EMAILS, CUSTOMER_ORDERS, CUSTOMERS, ORDERS

CUSTOMER_SNAPSHOT_INTERVAL_SECONDS = 30
ORDER_HISTORY_INTERVAL_SECONDS = 60


@dg.asset_sensor(
    asset_key=CUSTOMERS,
    job=jobs.customer_models_job,
    minimum_interval_seconds=CUSTOMER_SNAPSHOT_INTERVAL_SECONDS,
    default_status=RUNNING,
    description="Rebuilds the customer models when ingestion loads a new customer snapshot.",
)
def customer_snapshot_sensor(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> dg.RunRequest | dg.SkipReason:
    """An asset sensor fits a snapshot: only the newest load matters, and that is the one
    event it hands over per tick (older unseen loads are superseded).

    It moves its cursor itself once this function returns, so it cannot hold an event back;
    it relies on the owner evaluating its blocking check in the materializing step, as the
    ingestion location does, which puts a failed check on record with the materialization.
    The cursor is the previous event's storage id while this runs, so the run key names
    the event by its run and time instead.
    """
    if runs_failing_blocking_checks(context.instance, [asset_event.run_id]):
        return dg.SkipReason(
            f"Customer snapshot of run {asset_event.run_id} failed a blocking check"
        )
    # customer_orders also reads ingestion.orders, which exists once orders have loaded.
    selection = [CUSTOMER_EMAILS]
    if not never_loaded(context.instance, ORDERS):
        selection.append(CUSTOMER_ORDERS)
    return dg.RunRequest(
        run_key=f"customer_snapshot:{asset_event.run_id}:{asset_event.timestamp}",
        job_name=jobs.customer_models_job.name,
        asset_selection=selection,
    )


@dg.sensor(
    job=jobs.customer_models_job,
    minimum_interval_seconds=ORDER_HISTORY_INTERVAL_SECONDS,
    default_status=RUNNING,
    description="Rebuilds customer_orders when ingestion loads orders (one run per tick).",
)
def order_history_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    missing = never_loaded(context.instance, CUSTOMERS)
    if missing:
        return dg.SkipReason(f"Waiting for a first load of {', '.join(missing)}")
    batch = read_batch(context.instance, [ORDERS], recover_cursor(context, [ORDERS]))
    # customer_orders aggregates every partition of orders: however many days arrived, one
    # rebuild answers them all.
    requests = []
    if batch.partitions:
        requests.append(
            dg.RunRequest(
                run_key=run_key("customer_orders", batch.records),
                job_name=jobs.customer_models_job.name,
                asset_selection=[CUSTOMER_ORDERS],
            )
        )
    return result(requests, batch.cursor, "No new usable orders partitions")
