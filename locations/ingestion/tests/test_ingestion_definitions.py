"""The location's definitions: what other teams and the platform rely on."""

import dagster as dg

from ingestion.definitions import defs
from ingestion.feeds import CUSTOMERS, ORDERS, PRODUCTS, SALES
from ingestion.quality import REJECT_RATE_CHECK
from platform_shared.partitions import daily_partitions


def test_definitions_load_with_the_shared_resource_keys():
    repository = defs.get_repository_def()
    assert {"warehouse", "landing", "quality"} <= set(repository.get_top_level_resources())
    assert {s.name for s in repository.sensor_defs} == {
        "orders_file_sensor",
        "sales_file_sensor",
        "reference_files_sensor",
        "orphaned_runs_sensor",
    }
    assert sorted(s.name for s in repository.schedule_defs) == [
        "daily_feeds_fallback_schedule",
        "lake_maintenance_schedule",
    ]


def test_assets_carry_keys_groups_tags_and_descriptions():
    graph = defs.resolve_asset_graph()
    expected = {
        CUSTOMERS.key: ("ingestion_reference_data", "normal", None),
        PRODUCTS.key: ("ingestion_reference_data", "normal", None),
        ORDERS.key: ("ingestion_raw_data", "high", daily_partitions),
        SALES.key: ("ingestion_raw_data", "high", daily_partitions),
    }
    assert set(graph.get_all_asset_keys()) == set(expected)
    for key, (group, priority, partitions) in expected.items():
        node = graph.get(key)
        assert node.group_name == group
        assert node.tags["priority"] == priority
        assert node.partitions_def == partitions
        assert node.description
        assert not node.pools  # the lake takes concurrent writers
        assert "duckdb" in node.kinds


def test_every_asset_has_a_blocking_reject_rate_check():
    graph = defs.resolve_asset_graph()
    for feed in (CUSTOMERS, PRODUCTS, ORDERS, SALES):
        spec = graph.get(dg.AssetCheckKey(feed.key, REJECT_RATE_CHECK))
        assert spec.blocking


def test_jobs_select_daily_feeds_by_tag_and_reference_data_by_group():
    repository = defs.get_repository_def()
    daily = repository.get_job("daily_feeds_job")
    reference = repository.get_job("reference_data_job")
    assert daily.asset_layer.executable_asset_keys == {ORDERS.key, SALES.key}
    assert reference.asset_layer.executable_asset_keys == {CUSTOMERS.key, PRODUCTS.key}
    assert daily.partitions_def == daily_partitions
