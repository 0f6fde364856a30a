"""What the location's sensors share: their default status, the wait for a first load, and
the tick result that always stores the cursor."""

from __future__ import annotations

import dagster as dg

RUNNING = dg.DefaultSensorStatus.RUNNING


def never_loaded(instance: dg.DagsterInstance, *keys: dg.AssetKey) -> list[str]:
    return [
        key.to_user_string()
        for key in keys
        if instance.get_latest_materialization_event(key) is None
    ]


def result(requests: list[dg.RunRequest], cursor: str, idle: str) -> dg.SensorResult:
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    return dg.SensorResult(skip_reason=idle, cursor=cursor)
