"""What the location declares, and that every key it borrows exists in the ingestion location."""

import dagster as dg

from platform_shared.partitions import daily_partitions, date_region_partitions
from transformation.definitions import defs
from transformation.defs.sensors.customers import customer_snapshot_sensor
from transformation.keys import (
    CUSTOMER_EMAILS,
    CUSTOMER_ORDERS,
    CUSTOMERS,
    DAILY_SALES,
    ENRICHED_SALES,
    ORDERS,
    PRODUCTS,
    REGIONAL_DAILY_SALES,
    SALES,
    UPSTREAM_KEYS,
)

OWN_KEYS = {CUSTOMER_EMAILS, CUSTOMER_ORDERS, ENRICHED_SALES, DAILY_SALES, REGIONAL_DAILY_SALES}


def _keys(graph, *, materializable: bool) -> set[dg.AssetKey]:
    return {
        k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable == materializable
    }


def test_assets_and_their_lineage() -> None:
    graph = defs.resolve_asset_graph()

    assert _keys(graph, materializable=True) == OWN_KEYS
    assert _keys(graph, materializable=False) == set(UPSTREAM_KEYS)
    assert graph.get(CUSTOMER_EMAILS).parent_keys == {CUSTOMERS}
    assert graph.get(CUSTOMER_ORDERS).parent_keys == {CUSTOMERS, ORDERS}
    assert graph.get(ENRICHED_SALES).parent_keys == {SALES, PRODUCTS, CUSTOMERS}
    assert graph.get(DAILY_SALES).parent_keys == {ENRICHED_SALES}
    assert graph.get(REGIONAL_DAILY_SALES).parent_keys == {ENRICHED_SALES}
    for key in UPSTREAM_KEYS:
        assert (graph.get(key).description or "").startswith("Owned by the ingestion location")
    for key in OWN_KEYS:
        node = graph.get(key)
        assert node.description, key
        assert node.owners == ["team:transformation"], key
        assert "duckdb" in node.kinds, key
        assert not node.pools, key  # the lake takes concurrent writers
        assert node.group_name in {"transformation_customers", "transformation_sales"}, key


def test_partitioning_and_ranges() -> None:
    graph = defs.resolve_asset_graph()

    assert graph.get(ENRICHED_SALES).partitions_def == daily_partitions
    assert graph.get(DAILY_SALES).partitions_def == daily_partitions
    assert graph.get(REGIONAL_DAILY_SALES).partitions_def == date_region_partitions
    for key in (ENRICHED_SALES, DAILY_SALES, REGIONAL_DAILY_SALES):
        assert graph.get(key).backfill_policy == dg.BackfillPolicy.single_run(), key
    assert {c.name for c in graph.get(ENRICHED_SALES).check_keys} == {
        "known_products_and_customers",
        "unique_sale_id",
        "revenue_not_negative",
        "reconciles_with_ingestion",
    }


def test_jobs_sensors_and_resources() -> None:
    jobs = {
        name: set(defs.resolve_job_def(name).asset_layer.executable_asset_keys)
        for name in ("sales_models_job", "regional_sales_job", "customer_models_job")
    }
    assert jobs == {
        "sales_models_job": {ENRICHED_SALES, DAILY_SALES},
        "regional_sales_job": {REGIONAL_DAILY_SALES},
        "customer_models_job": {CUSTOMER_EMAILS, CUSTOMER_ORDERS},
    }
    sensors = {
        name: (s.default_status, s.minimum_interval_seconds, [j.name for j in s.jobs])
        for name in (
            "sales_models_sensor",
            "regional_sales_sensor",
            "customer_snapshot_sensor",
            "order_history_sensor",
        )
        for s in [defs.resolve_sensor_def(name)]
    }
    running = dg.DefaultSensorStatus.RUNNING
    assert sensors == {
        # On the path to analytics: every pass of the daemon's 5 s loop.
        "sales_models_sensor": (running, 4, ["sales_models_job", "regional_sales_job"]),
        "regional_sales_sensor": (running, 4, ["regional_sales_job"]),
        "customer_snapshot_sensor": (running, 30, ["customer_models_job"]),
        "order_history_sensor": (running, 60, ["customer_models_job"]),
    }
    assert sorted(defs.resources or {}) == ["io_manager", "warehouse"]
    assert isinstance(defs.executor, dg.ExecutorDefinition)
    assert defs.executor.name == "in_process"


def test_borrowed_keys_are_the_ingestion_feeds() -> None:
    """The keys this location reads or watches; tests/test_contracts.py checks them against
    the ingestion location's own definitions."""
    ours = defs.resolve_asset_graph()
    referenced = _keys(ours, materializable=False) | {customer_snapshot_sensor.asset_key}
    assert referenced == {CUSTOMERS, PRODUCTS, ORDERS, SALES}
    for key in referenced - {CUSTOMERS, PRODUCTS}:
        assert ours.get(key).partitions_def == daily_partitions, key
