"""The real topology on 127.0.0.1: code servers, daemon, webserver, PostgreSQL.

One platform per test session (starting it costs about half a minute on two cores); the
tests of ``test_platform.py`` build on each other's data in file order.
Processes are stopped by pid and temporary data removed even when a test fails; logs
are kept under ``artifacts/system`` for the CI report.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from platform_stack.topology import Topology, free_port
from tests.system.harness import artifacts_dir, platform_environ


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_env: dict[str, str],
    postgres_databases: Callable[[], dict[str, str]],
    pytestconfig: pytest.Config,
) -> Iterator[Topology]:
    """The whole platform on a fresh PostgreSQL database."""
    data = tmp_path_factory.mktemp("platform")
    (data / "landing").mkdir()
    topology = Topology(
        root=pytestconfig.rootpath,
        home=data / "home",
        environ=platform_environ(data, postgres_env, catalog=postgres_databases()),
        webserver_port=free_port(),
        log_dir=artifacts_dir(pytestconfig.rootpath, "platform"),
        schedules=False,
    )
    topology.start()
    try:
        yield topology
    finally:
        topology.stop()
        shutil.rmtree(data, ignore_errors=True)
