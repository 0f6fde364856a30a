"""The private Dagster names the pooled storage relies on, the versions it is tested
against, and the start-up check that refuses any other version.

``platform_instance.storage`` subclasses dagster-postgres's storages and overrides a few
of their internal methods (listed in ``OVERRIDDEN`` and ``CALLED``). None of this is
public API, so a Dagster release may change it without notice; the storage therefore
starts only on a version in ``TESTED_DAGSTER_VERSIONS``. ``make upgrade-dagster`` adds a
version here after bumping the pins, and runs the tests that guard this surface
(``tests/test_instance.py``: the names pinned below, and the rows of the stock and the
pooled paths compared).
"""

from __future__ import annotations

import dagster
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationPlanned,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log import SqlEventLogStorageTable
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._serdes import ConfigurableClassData

# Why each one: the planned-check rows are written directly (the event's data class, the
# status value and the table), the event rows too (their table), and the composite
# storage is built like dagster-postgres builds its own (base class, config data type).
__all__ = [
    "AssetCheckEvaluationPlanned",
    "AssetCheckExecutionRecordStatus",
    "AssetCheckExecutionsTable",
    "ConfigurableClassData",
    "DagsterStorage",
    "SqlEventLogStorageTable",
]

TESTED_DAGSTER_VERSIONS = ("1.13.27",)

# Internal methods of PostgresEventLogStorage the pooled event log overrides, and those it
# calls, with the parameters it passes. Pinned by name and signature in the tests.
OVERRIDDEN = {
    "store_event_batch": ("events",),
    "has_table": ("table_name",),
    "_store_asset_check_evaluation_planned": ("event", "event_id"),
    "initialize_concurrency_limit_to_default": ("concurrency_key",),
    "_reconcile_concurrency_limits_from_slots": (),
}
CALLED = {
    "_connect": (),
    "index_connection": (),
    "index_transaction": (),
    "_event_to_row": ("event",),
    "_event_insert_timestamp": ("event",),
    "_store_asset_event": ("conn", "event", "event_id"),
    "_store_asset_event_tags": ("conn", "events", "event_ids"),
    "get_concurrency_keys": (),
}


class UntestedDagsterVersion(RuntimeError):
    pass


def require_tested_dagster(version: str = dagster.__version__) -> None:
    """Refuse to start the pooled storage on a Dagster it was not tested against."""
    if version not in TESTED_DAGSTER_VERSIONS:
        tested = ", ".join(TESTED_DAGSTER_VERSIONS)
        raise UntestedDagsterVersion(
            f"platform_instance.storage overrides dagster-postgres internals and is tested "
            f"with Dagster {tested}, not {version}. Install a tested version, or run "
            f"`make upgrade-dagster VERSION={version}` to move the pins and run the tests "
            "that guard those internals."
        )
