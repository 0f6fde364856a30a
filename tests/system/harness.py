"""Helpers shared by the system and fault tests."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from platform_shared.resources import WarehouseResource
from platform_stack.topology import Topology

T = TypeVar("T")


def artifacts_dir(root: Path, name: str) -> Path:
    path = root / "artifacts" / "system" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def platform_environ(
    data: Path, extra: dict[str, str], catalog: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a platform whose data lives in ``data``.

    ``catalog``: the ``DAGSTER_POSTGRES_*`` of a database to keep the lake's catalog in, as
    deployments do; without it the catalog is a SQLite file, the embedded default.
    """
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_POSTGRES_", "WAREHOUSE_"))
    }
    environ.update(
        WAREHOUSE_CATALOG=f"sqlite:{data / 'warehouse' / 'catalog.sqlite'}",
        WAREHOUSE_DATA_PATH=str(data / "warehouse" / "lake"),
        LANDING_URL=str(data / "landing"),
        EXPORT_URL=str(data / "warehouse" / "exports"),
    )
    if catalog is not None:
        environ.update(postgres_catalog(catalog))
    environ.update(extra)
    return environ


def postgres_catalog(database: dict[str, str]) -> dict[str, str]:
    """The warehouse settings of a lake catalog in the PostgreSQL database ``database``."""
    return {
        "WAREHOUSE_CATALOG": (
            f"postgres:dbname={database['DAGSTER_POSTGRES_DB']} "
            f"host={database['DAGSTER_POSTGRES_HOST']} port={database['DAGSTER_POSTGRES_PORT']} "
            f"user={database['DAGSTER_POSTGRES_USER']}"
        ),
        "WAREHOUSE_CATALOG_PASSWORD": database["DAGSTER_POSTGRES_PASSWORD"],
    }


def landing_dir(topology: Topology) -> Path:
    return Path(topology.environ["LANDING_URL"])


def warehouse_of(topology: Topology) -> WarehouseResource:
    """The platform's lake, as the test process reads it."""
    return warehouse_of_environ(topology.environ)


def warehouse_of_environ(environ: Mapping[str, str]) -> WarehouseResource:
    """The lake of a platform with the environment ``environ``, as the test process reads it.

    The catalog's password reaches this process's connections the way it reaches the
    platform's: through ``WAREHOUSE_CATALOG_PASSWORD`` (one test server, one password).
    """
    password = environ.get("WAREHOUSE_CATALOG_PASSWORD")
    if password:
        os.environ["WAREHOUSE_CATALOG_PASSWORD"] = password
    return WarehouseResource(
        catalog=environ["WAREHOUSE_CATALOG"], data_path=environ["WAREHOUSE_DATA_PATH"]
    )


def eventually(
    check: Callable[[], T | None], timeout: float, what: str, *, interval: float = 1.0
) -> T:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


TEAMS = ("ingestion", "transformation", "analytics")


def team_address(team: str) -> str:
    return f"{team}@platform.test"


def alert_environ(routes: Path, smtp_port: int, webhooks: Mapping[str, str]) -> dict[str, str]:
    """The settings that send a platform's alerts to test receivers: each team's email to
    ``team_address(team)`` through the SMTP server on ``smtp_port``, and the webhook URL
    ``webhooks[team]`` (one of them may point at a closed port)."""
    routes.write_text(
        "".join(
            f'[routes."team:{team}"]\nemail = ["{team_address(team)}"]\n'
            f'webhook_env = "{team.upper()}_ALERTS_WEBHOOK"\n'
            for team in TEAMS
        )
    )
    return {
        "ALERT_ROUTES": str(routes),
        "ALERT_SMTP_HOST": "127.0.0.1",
        "ALERT_SMTP_PORT": str(smtp_port),
        **{f"{team.upper()}_ALERTS_WEBHOOK": url for team, url in webhooks.items()},
    }


def sensor_ticks(topology: Topology, location: str, sensor: str) -> list[float]:
    """Start times of a sensor's last ticks, newest first, read through the webserver."""
    data = topology.graphql(
        """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
             __typename ... on Sensor { sensorState { ticks(limit: 50) { timestamp } } } } }""",
        {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": "__repository__",
                "sensorName": sensor,
            }
        },
    )
    result = data["sensorOrError"]
    assert result["__typename"] == "Sensor", result
    return [t["timestamp"] for t in result["sensorState"]["ticks"]]


def sensor_ticked_after(topology: Topology, location: str, sensor: str, moment: float) -> bool:
    """Whether ``sensor`` of ``location`` completed a tick that started after ``moment``."""
    try:
        ticks = sensor_ticks(topology, location, sensor)
    except OSError:  # an overloaded webserver answers 500 now and then
        return False
    return any(t > moment for t in ticks)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, kept off the network it cannot reach (the browser
    tests of the local and compose stacks)."""
    return playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )
