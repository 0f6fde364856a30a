"""The private Dagster names the shared library and the locations rely on, and only here.

Dagster has no public name for any of these. Each one is pinned by
``shared/tests/test_dagster_private.py``: an upgrade that renames, moves or changes one
fails that named test instead of a sensor or a run in production. Import them from here,
never from ``dagster._*`` directly.

- The run tags below are stored with every run: the sensors read them back to find what
  they requested earlier (``RUN_KEY_TAG``, ``SENSOR_NAME_TAG``), the range tags are how a
  run asks for a partition range (the daemon and ``execute_in_process`` read them), and
  ``PARENT_RUN_ID_TAG`` marks a retry.
- ``CheckError`` is what ``SensorEvaluationContext.sensor_name`` raises when a sensor is
  evaluated without a name (``build_sensor_context()`` in a test).
- ``DbIOManager``, ``DbTypeHandler`` and ``TableSlice`` are the machinery under
  dagster-duckdb's IO manager; the transformation location builds one with its own
  database client (one transaction per store).
- ``WILL_RETRY_TAG``, ``AUTO_RETRY_RUN_ID_TAG`` and ``RETRY_NUMBER_TAG`` are how a failed
  run says whether ``run_retries`` will retry it, which run retried it, and which attempt
  a run is; ``PARTITION_NAME_TAG`` names a run's partition. The alert sensors read them.
- :func:`freshness_state_records` reads the freshness states the daemon records, which
  the instance offers under no public name.
- :func:`monitored_assets` and :func:`monitored_runs` read what a multi-asset sensor or a
  run-status sensor watches, which those definitions keep in private attributes only;
  ``platform_shared.testing.definitions_snapshot`` shows it.
"""

from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._check import CheckError
from dagster._core.definitions.freshness import FreshnessStateRecord
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    AUTO_RETRY_RUN_ID_TAG,
    PARENT_RUN_ID_TAG,
    PARTITION_NAME_TAG,
    RETRY_NUMBER_TAG,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    WILL_RETRY_TAG,
)


def monitored_assets(
    sensor: dg.MultiAssetSensorDefinition,
) -> Sequence[dg.AssetKey] | dg.AssetSelection:
    """The assets ``sensor`` watches, as it was given them."""
    return sensor._monitored_assets


def monitored_runs(sensor: dg.RunStatusSensorDefinition) -> tuple[dg.DagsterRunStatus, list]:
    """The run status ``sensor`` reacts to and the jobs (or selectors) it watches; no job
    means every job of its code location."""
    return sensor._run_status, list(sensor._monitored_jobs)


def freshness_state_records(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey]
) -> Mapping[dg.AssetKey, FreshnessStateRecord]:
    """The last freshness state the daemon recorded for each of ``keys`` that has one."""
    return instance.get_freshness_state_records(keys)


__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "AUTO_RETRY_RUN_ID_TAG",
    "PARENT_RUN_ID_TAG",
    "PARTITION_NAME_TAG",
    "RETRY_NUMBER_TAG",
    "RUN_KEY_TAG",
    "SENSOR_NAME_TAG",
    "WILL_RETRY_TAG",
    "CheckError",
    "DbIOManager",
    "DbTypeHandler",
    "TableSlice",
    "freshness_state_records",
    "monitored_assets",
    "monitored_runs",
]
