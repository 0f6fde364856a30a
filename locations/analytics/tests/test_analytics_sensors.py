"""The upstream sensor turns bursts of transformation materializations into one refresh."""

import uuid
from collections.abc import Sequence
from typing import Protocol

import dagster as dg
import pytest

from analytics.defs.sensors.transformation_updates import transformation_updates_sensor
from analytics.defs.upstream import CUSTOMER_ORDERS, ENRICHED_SALES, REGIONAL_DAILY_SALES
from analytics.keys import CUSTOMER_LIFETIME_VALUE

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


class Evaluation(Protocol):
    """What these tests read of an evaluated tick (Dagster exports no name for its type)."""

    @property
    def run_requests(self) -> Sequence[dg.RunRequest] | None: ...
    @property
    def skip_message(self) -> str | None: ...
    @property
    def cursor(self) -> str | None: ...


def tick(instance: dg.DagsterInstance, cursor: str | None) -> Evaluation:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return transformation_updates_sensor.evaluate_tick(context)


def requests(data: Evaluation) -> list[dg.RunRequest]:
    return list(data.run_requests or [])


def report(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def report_in_run(
    instance: dg.DagsterInstance, run: dg.DagsterRun, key: dg.AssetKey, partition: str
) -> None:
    """Record a materialization of ``key`` as written by ``run``."""
    # Dagster exports no constructor for a materialization event's data: take the data of
    # one reported on a scratch instance.
    with dg.DagsterInstance.ephemeral() as scratch:
        scratch.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key, partition=partition)
        )
        [record] = scratch.fetch_materializations(key, limit=1).records
    template = record.event_log_entry.dagster_event
    assert template is not None
    instance.report_dagster_event(
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name=run.job_name,
            event_specific_data=template.event_specific_data,
        ),
        run_id=run.run_id,
    )


def report_burst(instance: dg.DagsterInstance) -> None:
    """Ten events: five daily partitions of enriched_sales, five of regional_daily_sales."""
    for day in DAYS:
        report(instance, ENRICHED_SALES, day)
        report(instance, REGIONAL_DAILY_SALES, f"{day}|US")


def test_burst_gives_one_request_and_a_retick_none(instance):
    report_burst(instance)

    first = tick(instance, None)
    assert len(requests(first)) == 1
    request = requests(first)[0]
    assert request.run_key
    assert request.run_key.startswith("analytics_refresh:")
    assert request.tags["analytics/upstream_materializations"] == "10"
    assert first.cursor

    again = tick(instance, first.cursor)
    assert again.run_requests == []
    assert again.skip_message
    assert again.cursor in (None, first.cursor)

    report(instance, REGIONAL_DAILY_SALES, "2024-03-06|EU")
    third = tick(instance, first.cursor)
    assert len(requests(third)) == 1
    assert requests(third)[0].run_key != request.run_key
    assert requests(third)[0].tags["analytics/upstream_materializations"] == "1"
    assert tick(instance, third.cursor).run_requests == []


def test_a_repeated_tick_repeats_the_run_key(instance):
    # A tick evaluated again from the same cursor (cursor not stored before a crash)
    # asks for the same run key: the daemon launches it once.
    report_burst(instance)
    keys = {requests(tick(instance, None))[0].run_key for _ in range(2)}
    assert len(keys) == 1


def test_other_assets_are_ignored(instance):
    report(instance, dg.AssetKey(["transformation", "daily_sales"]), "2024-03-01")
    report(instance, dg.AssetKey(["ingestion", "sales"]), "2024-03-01")
    result = tick(instance, None)
    assert result.run_requests == []


def test_materializations_of_a_run_failing_a_blocking_check_are_not_consumed(instance):
    @dg.asset(
        key=ENRICHED_SALES,
        check_specs=[dg.AssetCheckSpec("rows_valid", asset=ENRICHED_SALES, blocking=True)],
    )
    def bad_enriched_sales():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="rows_valid", passed=False)

    dg.materialize([bad_enriched_sales], instance=instance, raise_on_error=False)
    blocked = tick(instance, None)
    assert blocked.run_requests == []
    assert blocked.skip_message
    assert "blocking check" in blocked.skip_message
    # The cursor moves past them: the bad data is never consumed later either.
    assert blocked.cursor

    report(instance, ENRICHED_SALES, "2024-03-07")
    report(instance, REGIONAL_DAILY_SALES, "2024-03-07|EU")
    assert len(requests(tick(instance, blocked.cursor))) == 1


def test_waits_for_upstream_runs_to_finish(instance):
    run = instance.add_run(
        dg.DagsterRun(
            job_name="transformation_job",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
        )
    )
    report_in_run(instance, run, ENRICHED_SALES, "2024-03-01")
    waiting = tick(instance, None)
    assert waiting.run_requests == []
    assert waiting.skip_message
    assert run.run_id in waiting.skip_message
    assert waiting.cursor is None

    instance.report_run_failed(run)
    report(instance, REGIONAL_DAILY_SALES, "2024-03-01|US")
    done = tick(instance, waiting.cursor)
    assert len(requests(done)) == 1


def test_enriched_days_wait_for_their_regional_rebuild(instance):
    # Transformation rebuilds regional_daily_sales right after enriched_sales: refreshing
    # in between would publish a report without the day, then refresh a second time.
    report(instance, ENRICHED_SALES, DAYS[0])
    held = tick(instance, None)
    assert held.run_requests == []
    assert "Waiting for regional_daily_sales of 2024-03-01" in (held.skip_message or "")

    for region in ("US", "EU", "APAC"):
        report(instance, REGIONAL_DAILY_SALES, f"{DAYS[0]}|{region}")
    ready = tick(instance, held.cursor)
    assert len(requests(ready)) == 1
    assert requests(ready)[0].tags["analytics/upstream_materializations"] == "4"


def test_customer_mart_waits_until_customer_orders_exists(instance):
    report_burst(instance)

    (before_orders,) = requests(tick(instance, None))
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=CUSTOMER_ORDERS))
    (after_orders,) = requests(tick(instance, None))

    assert before_orders.asset_selection is not None
    assert CUSTOMER_LIFETIME_VALUE not in before_orders.asset_selection
    assert len(before_orders.asset_selection) == 3
    # Once customer_orders exists the request names no subset: the whole refresh job.
    assert after_orders.asset_selection is None
