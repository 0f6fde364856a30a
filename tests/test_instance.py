"""The repository's dagster.yaml against a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, asset, materialize
from dagster._core.test_utils import environ

from platform_stack.instance import prepare_home

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_instance(tmp_path: Path, postgres_env: dict[str, str], pytestconfig: pytest.Config):
    home = tmp_path / "home"
    kind = prepare_home(home, pytestconfig.rootpath / "dagster.yaml", postgres_env)
    assert kind == "postgres"
    with environ({**postgres_env, "DAGSTER_HOME": str(home)}):
        instance = DagsterInstance.get()
        try:
            yield instance
        finally:
            instance.dispose()


def test_instance_settings_come_from_dagster_yaml(pg_instance: DagsterInstance) -> None:
    assert type(pg_instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(pg_instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert pg_instance.run_monitoring_enabled
    assert pg_instance.run_monitoring_max_runtime_seconds == 7200
    assert pg_instance.run_retries_enabled
    assert pg_instance.run_retries_max_retries == 1
    assert not pg_instance.telemetry_enabled
    queue = pg_instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 6
    pools = pg_instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1
    assert pools.pool_granularity is not None
    assert pools.pool_granularity.value == "op"


def test_runs_and_events_are_stored_in_postgres(pg_instance, postgres_query) -> None:
    @asset(pool="warehouse")
    def numbers() -> list[int]:
        return [1, 2, 3]

    result = materialize([numbers], instance=pg_instance)
    assert result.success
    rows = postgres_query("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
    assert rows == [("SUCCESS",)]
    events = postgres_query(
        "SELECT dagster_event_type FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        (result.run_id,),
    )
    assert len(events) == 1
    # The warehouse pool got its one slot from `pools.default_limit`.
    info = pg_instance.event_log_storage.get_concurrency_info("warehouse")
    assert info.slot_count == 1
