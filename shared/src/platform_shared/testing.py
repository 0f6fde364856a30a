"""Throwaway warehouses for tests, on either catalog the platform runs on.

Every location's tests take their ``warehouse`` fixture from :func:`catalogs` and
:func:`temporary_warehouse`: a SQLite catalog in the test's folder, and, when a
PostgreSQL server is named by ``WAREHOUSE_TEST_POSTGRES`` (libpq keywords of a role that
may create databases, its password in ``WAREHOUSE_CATALOG_PASSWORD``), the same tests
again on a fresh catalog database there. Likewise :func:`stores` and
:func:`temporary_store` give a landing or export location as a folder and, when an S3
server is named by ``STORAGE_TEST_S3_*``, as a bucket there. ``make test`` starts both
servers (``tests/with_servers.py``), so every variant is tested on every run.

:func:`definitions_snapshot` turns a location's ``Definitions`` into plain data that each
location's ``tests/test_definitions_snapshot.py`` compares with its reviewed snapshot.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from platform_shared import dagster_private
from platform_shared.lake import Catalog
from platform_shared.resources import WarehouseResource
from platform_shared.settings import current, secret
from platform_shared.storage import BucketStore, FolderStore, S3Settings, Store, s3_client

SERVER_VAR = "WAREHOUSE_TEST_POSTGRES"
# An S3 server of the test session: its endpoint, and the key and secret it accepts.
S3_ENDPOINT_VAR = "STORAGE_TEST_S3_ENDPOINT"
S3_KEY_VAR = "STORAGE_TEST_S3_ACCESS_KEY_ID"
S3_SECRET_VAR = "STORAGE_TEST_S3_SECRET_ACCESS_KEY"  # noqa: S105 (a variable's name)


def catalogs() -> list[str]:
    """The catalog kinds this test session covers."""
    return ["sqlite", "postgres"] if os.environ.get(SERVER_VAR) else ["sqlite"]


@contextmanager
def temporary_warehouse(folder: Path, kind: str, **fields: Any) -> Iterator[WarehouseResource]:
    """An empty lake whose data lives in ``folder``; its catalog is removed afterwards."""
    data_path = str(folder / "lake")
    if kind == "sqlite":
        yield WarehouseResource(
            catalog=f"sqlite:{folder / 'catalog.sqlite'}", data_path=data_path, **fields
        )
        return
    server = os.environ[SERVER_VAR]
    name = f"lake_{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        catalog = f"postgres:{server} dbname={name}"
        Catalog.parse(catalog)  # the same checks as a deployment's setting
        yield WarehouseResource(catalog=catalog, data_path=data_path, **fields)
    finally:
        with _admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stores() -> list[str]:
    """The kinds of file location this test session covers."""
    return ["folder", "bucket"] if os.environ.get(S3_ENDPOINT_VAR) else ["folder"]


def drop_crossed_variants(config: Any, items: list[Any]) -> None:
    """Deselect the tests that would run a bucket on the PostgreSQL catalog.

    Where files live and where the lake's catalog lives are independent: a bucket on the
    SQLite catalog and a folder on both catalogs test every part once, where the full
    cross product would run each test four times. Call from ``pytest_collection_modifyitems``.
    """
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        bucket = "bucket" in (params.get("landing_kind"), params.get("exports"))
        (dropped if bucket and params.get("warehouse") == "postgres" else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def s3_test_settings() -> S3Settings:
    """How to reach the session's S3 server."""
    return S3Settings(
        endpoint_url=os.environ[S3_ENDPOINT_VAR],
        region="us-east-1",
        access_key_id=os.environ[S3_KEY_VAR],
        secret_access_key=os.environ[S3_SECRET_VAR],
    )


@contextmanager
def s3_environment(settings: S3Settings) -> Iterator[None]:
    """This process's ``AWS_*`` settings point at ``settings``' store while the block runs
    (code that reads them, as a deployment's would, reaches it), and are restored after."""
    variables = settings.environ()
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def temporary_store(folder: Path, kind: str, prefix: str = "landing") -> Iterator[Store]:
    """An empty folder, or a prefix of a new bucket on the session's S3 server.

    For a bucket, this process's ``AWS_*`` settings point at the server while the block
    runs (the code under test reads them, as a deployment's would), and the bucket and its
    objects are removed afterwards."""
    if kind == "folder":
        folder.mkdir(parents=True, exist_ok=True)
        yield FolderStore(folder)
        return
    settings = s3_test_settings()
    client = s3_client(settings)
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    try:
        with s3_environment(settings):
            yield BucketStore(bucket, prefix, settings)
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


def settings_of(warehouse: WarehouseResource) -> dict[str, str]:
    """The settings under which a location's own resources resolve to ``warehouse``."""
    return {"WAREHOUSE_CATALOG": warehouse.catalog, "WAREHOUSE_DATA_PATH": warehouse.data_path}


@contextmanager
def _admin(server: str) -> Iterator:
    import psycopg2  # installed with dagster-postgres

    conn = psycopg2.connect(
        f"{server} dbname=postgres", password=secret("WAREHOUSE_CATALOG_PASSWORD")
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


# -- definitions snapshot ---------------------------------------------------------------

# Jobs whose names start so are Dagster's own: the implicit job of all assets, the
# anonymous job of a schedule or sensor that targets assets.
_DAGSTER_JOB_PREFIX = "__"
_KIND_TAG_PREFIX = "dagster/kind/"


def definitions_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """What ``defs`` declares, as sorted plain data: assets, checks, jobs, schedules,
    sensors, resource keys and executor. Only names and settings, so it reads the same on
    every machine."""
    graph = defs.resolve_asset_graph()
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    return {
        "assets": {
            key.to_user_string(): _asset(graph.get(key)) for key in graph.get_all_asset_keys()
        },
        "asset_checks": sorted(
            (_check(graph.get(key)) for key in graph.asset_check_keys),
            key=lambda check: (check["asset"], check["name"]),
        ),
        "jobs": {name: _job(job) for name, job in jobs.items() if not _is_dagster_job(name)},
        "schedules": {
            schedule.name: _schedule(defs.resolve_schedule_def(schedule.name), jobs)
            for schedule in defs.schedules or []
        },
        "sensors": {
            sensor.name: _sensor(defs.resolve_sensor_def(sensor.name), graph, jobs)
            for sensor in defs.sensors or []
        },
        "resources": sorted(defs.resources or {}),
        "executor": _executor(defs.executor),
    }


def _executor(executor: Any) -> str | None:
    return executor.name if isinstance(executor, dg.ExecutorDefinition) else None


def _asset(node: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "execution": _execution(node),
        "group": node.group_name,
        "owners": sorted(node.owners or ()),
        "kinds": sorted(node.kinds or ()),
        "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith(_KIND_TAG_PREFIX)},
        "description": _summary(node.description),
        "deps": _keys(node.parent_keys),
    }
    optional = {
        "pools": sorted(node.pools or ()),
        "partitions": _partitions(node.partitions_def),
        "backfill_policy": _backfill_policy(node.backfill_policy),
        "automation_condition": _condition(node.automation_condition),
        "freshness_policy": _freshness(node.freshness_policy),
        "legacy_freshness_policy": _legacy_freshness(node.legacy_freshness_policy),
    }
    return found | {name: value for name, value in optional.items() if value}


def _execution(node: Any) -> str:
    if node.is_materializable:
        return "materializable"
    if node.is_observable:
        return "observable"
    return "external"  # declared for its key, built by another location


def _check(node: Any) -> dict[str, Any]:
    return {
        "asset": node.key.asset_key.to_user_string(),
        "name": node.key.name,
        "blocking": node.blocking,
        "description": _summary(node.description),
    }


def _job(job: dg.JobDefinition) -> dict[str, Any]:
    assets = job.asset_layer.selected_asset_keys
    found: dict[str, Any] = {"description": _summary(job.description)}
    if assets:
        found["assets"] = _keys(assets)
    else:
        found["ops"] = sorted(node.name for node in job.graph.nodes)
    partitions = _partitions(job.partitions_def)
    if partitions:
        found["partitions"] = partitions
    return found


def _schedule(schedule: dg.ScheduleDefinition, jobs: dict[str, dg.JobDefinition]) -> dict[str, Any]:
    cron = schedule.cron_schedule
    return {
        "cron": cron if isinstance(cron, str) else list(cron),
        "timezone": _timezone(schedule.execution_timezone),
        "default_status": schedule.default_status.value,
        "description": _summary(schedule.description),
        **_targets([schedule.job_name], jobs),
    }


def _sensor(
    sensor: dg.SensorDefinition, graph: Any, jobs: dict[str, dg.JobDefinition]
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": "plain",
        "minimum_interval_seconds": sensor.minimum_interval_seconds,
        "default_status": sensor.default_status.value,
        "description": _summary(sensor.description),
    }
    if isinstance(sensor, dg.RunStatusSensorDefinition):
        status, watched = dagster_private.monitored_runs(sensor)
        found |= {"type": "run_status", "run_status": status.value}
        found["monitored_jobs"] = sorted(_job_label(job) for job in watched) or "all"
    elif isinstance(sensor, dg.MultiAssetSensorDefinition):
        watched = dagster_private.monitored_assets(sensor)
        if isinstance(watched, dg.AssetSelection):
            watched = watched.resolve(graph)
        found |= {"type": "multi_asset", "monitored_assets": _keys(watched)}
    elif isinstance(sensor, dg.AssetSensorDefinition):
        found |= {"type": "asset", "monitored_assets": [sensor.asset_key.to_user_string()]}
    elif isinstance(sensor, dg.AutomationConditionSensorDefinition):
        found["type"] = "automation_condition"
    names = [job.name for job in sensor.jobs] if sensor.has_jobs else []
    return found | _targets(names, jobs)


def _targets(names: Iterable[str | None], jobs: dict[str, dg.JobDefinition]) -> dict[str, Any]:
    """The jobs a schedule or sensor requests; an anonymous job by the assets it runs."""
    named = sorted(name for name in names if name and not _is_dagster_job(name))
    anonymous = [name for name in names if name and _is_dagster_job(name)]
    found: dict[str, Any] = {"jobs": named}
    if anonymous:
        found["assets"] = _keys(
            key for name in anonymous for key in jobs[name].asset_layer.selected_asset_keys
        )
    return found


def _job_label(job: Any) -> str:
    """A watched job by its name; a selector of another location's job or of all its jobs
    as ``location:job`` or ``location:*``."""
    if isinstance(job, dg.JobSelector):
        return f"{job.location_name}:{job.job_name}"
    if isinstance(job, dg.RepositorySelector):
        return f"{job.location_name}:*"
    return job.name


def _is_dagster_job(name: str) -> bool:
    return name.startswith(_DAGSTER_JOB_PREFIX)


def _keys(keys: Iterable[dg.AssetKey]) -> list[str]:
    return sorted({key.to_user_string() for key in keys})


def _summary(text: str | None) -> str | None:
    """The first paragraph on one line: a docstring's summary may wrap."""
    paragraph = (text or "").strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split()) or None


def _timezone(name: str | None) -> str | None:
    # Schedules and freshness policies take PLATFORM_TIMEZONE when the location loads:
    # shown by the setting's name, the snapshot is the same whatever a machine sets.
    return "PLATFORM_TIMEZONE" if name and name == current("PLATFORM_TIMEZONE") else name


def _duration(value: Any) -> str:
    delta = value.to_timedelta() if hasattr(value, "to_timedelta") else value
    seconds = int(delta.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _partitions(partitions: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if partitions is None:
        return None
    found: dict[str, Any] = {"type": type(partitions).__name__}
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        found |= {
            "cron": partitions.cron_schedule,
            "start": partitions.start.strftime(partitions.fmt),
            "timezone": partitions.timezone,
        }
        if partitions.end is not None:
            found["end"] = partitions.end.strftime(partitions.fmt)
        if partitions.end_offset:
            found["end_offset"] = partitions.end_offset
    elif isinstance(partitions, dg.StaticPartitionsDefinition):
        # In declared order: the order the UI and backfills use.
        found["keys"] = list(partitions.get_partition_keys())
    elif isinstance(partitions, dg.MultiPartitionsDefinition):
        found["dimensions"] = {
            dimension.name: _partitions(dimension.partitions_def)
            for dimension in partitions.partitions_defs
        }
    elif isinstance(partitions, dg.DynamicPartitionsDefinition):
        found["name"] = partitions.name
    return found


def _backfill_policy(policy: dg.BackfillPolicy | None) -> str | None:
    if policy is None:
        return None
    if policy.max_partitions_per_run is None:
        return "single_run"
    return f"multi_run, at most {policy.max_partitions_per_run} partitions per run"


def _condition(condition: dg.AutomationCondition | None) -> str | None:
    """A condition by its label, else as its operator over its operands."""
    if condition is None:
        return None
    label = condition.get_label()
    if label:
        return label
    operands = [_condition(child) for child in condition.children]
    return (
        f"{condition.name}({', '.join(o for o in operands if o)})" if operands else condition.name
    )


def _freshness(policy: Any) -> dict[str, Any] | None:
    # Dagster exports no name for the classes FreshnessPolicy.cron and .time_window return.
    if policy is None:
        return None
    if hasattr(policy, "deadline_cron"):
        return {
            "deadline_cron": policy.deadline_cron,
            "lower_bound": _duration(policy.lower_bound_delta),
            "timezone": _timezone(policy.timezone),
        }
    if hasattr(policy, "fail_window"):
        warn = getattr(policy, "warn_window", None)
        return {
            "fail_window": _duration(policy.fail_window),
            "warn_window": _duration(warn) if warn is not None else None,
        }
    return {"type": type(policy).__name__}


def _legacy_freshness(policy: Any) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "maximum_lag_minutes": policy.maximum_lag_minutes,
        "cron": policy.cron_schedule,
        "timezone": _timezone(policy.cron_schedule_timezone),
    }
