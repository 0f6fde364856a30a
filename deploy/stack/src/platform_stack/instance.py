"""Prepare a Dagster instance home from the repository's ``dagster.yaml``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance

from platform_instance.config import POSTGRES_VARS, instance_yaml, uses_postgres

__all__ = ["POSTGRES_VARS", "environment", "initialize_storage", "prepare_home", "uses_postgres"]


def prepare_home(home: Path, source_config: Path, environ: Mapping[str, str]) -> str:
    """Write ``home/dagster.yaml``; returns the storage kind (``postgres`` or ``sqlite``).

    With every ``DAGSTER_POSTGRES_*`` variable set the instance stores its runs and event
    log in that server; otherwise in SQLite files under ``home``. Everything else is the
    repository's file as it is.
    """
    home.mkdir(parents=True, exist_ok=True)
    postgres = uses_postgres(environ)
    (home / "dagster.yaml").write_text(instance_yaml(source_config.read_text(), postgres=postgres))
    return "postgres" if postgres else "sqlite"


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; processes started inside inherit them."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def initialize_storage(home: Path, environ: Mapping[str, str]) -> None:
    """Create or migrate the instance's tables once, before any process starts.

    Left to the processes, the code servers, the daemon and the webserver would all
    create a fresh schema at the same moment and race on its migration table.
    """
    with environment({**environ, "DAGSTER_HOME": str(home)}):
        # Opening the instance creates (or checks) its storage tables.
        DagsterInstance.from_config(str(home)).dispose()
