"""Fault injection on the real topology: each test module gets a platform of its own.

A fault can leave a platform in a state the next case should not inherit (a killed
daemon, a restarted database, cursors moved by hand), so platforms are per module, each
on a fresh PostgreSQL database and a fresh data folder, and always stopped by pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from platform_stack.topology import Topology, free_port
from tests.alert_receivers import Hooks, Mailbox, smtp_server, webhook_receiver
from tests.system.harness import artifacts_dir, platform_environ

PlatformFactory = Callable[..., contextlib.AbstractContextManager[Topology]]


@pytest.fixture(scope="module")
def start_platform(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Callable[[], dict[str, str]],
    pytestconfig: pytest.Config,
) -> PlatformFactory:
    """``with start_platform("name", EXTRA="1") as topology:`` a whole platform on its own
    database and data folder; logs under ``artifacts/system/faults-<name>``."""

    @contextlib.contextmanager
    def start(name: str, **extra_env: str) -> Iterator[Topology]:
        data = tmp_path_factory.mktemp(f"faults-{name}")
        (data / "landing").mkdir()
        environ = platform_environ(
            data, {**postgres_databases(), **extra_env}, catalog=postgres_databases()
        )
        topology = Topology(
            root=pytestconfig.rootpath,
            home=data / "home",
            environ=environ,
            webserver_port=free_port(),
            log_dir=artifacts_dir(pytestconfig.rootpath, f"faults-{name}"),
            schedules=False,
        )
        topology.start()
        try:
            yield topology
        finally:
            topology.stop()
            shutil.rmtree(data, ignore_errors=True)

    return start


@pytest.fixture(scope="module")
def fault_platform(
    request: pytest.FixtureRequest, start_platform: PlatformFactory
) -> Iterator[Topology]:
    """One running platform shared by the cases of a test module."""
    name = Path(str(request.module.__file__)).stem.removeprefix("test_")
    with start_platform(name) as topology:
        yield topology


@pytest.fixture(scope="module")
def instance(fault_platform: Topology) -> Iterator[DagsterInstance]:
    """The platform's instance, opened from the test process (the same PostgreSQL database)."""
    saved = dict(os.environ)
    os.environ.update(
        {k: v for k, v in fault_platform.base_env().items() if k.startswith("DAGSTER")}
    )
    try:
        inst = DagsterInstance.from_config(str(fault_platform.home))
        yield inst
        inst.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mailbox, Hooks, Path]]:
    """An SMTP server and a webhook receiver on loopback for a module's platform alerts,
    and where to write its routes file (``tests.system.harness.alert_environ``)."""
    with smtp_server() as mailbox, webhook_receiver() as hooks:
        yield mailbox, hooks, tmp_path_factory.mktemp("alerts") / "alerts.toml"
