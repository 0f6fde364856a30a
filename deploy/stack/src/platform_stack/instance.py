"""Prepare a Dagster instance home from the repository's ``dagster.yaml``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml
from dagster import DagsterInstance

POSTGRES_VARS = (
    "DAGSTER_POSTGRES_USER",
    "DAGSTER_POSTGRES_PASSWORD",
    "DAGSTER_POSTGRES_DB",
    "DAGSTER_POSTGRES_HOST",
    "DAGSTER_POSTGRES_PORT",
)


def uses_postgres(environ: Mapping[str, str]) -> bool:
    return all(environ.get(v) for v in POSTGRES_VARS)


def prepare_home(home: Path, source_config: Path, environ: Mapping[str, str]) -> str:
    """Write ``home/dagster.yaml``; returns the storage kind (``postgres`` or ``sqlite``).

    With every ``DAGSTER_POSTGRES_*`` variable set the repository's file is used as is;
    otherwise its ``storage`` block is dropped so the instance keeps its runs and event
    log in SQLite files under ``home`` and everything else stays identical.
    """
    home.mkdir(parents=True, exist_ok=True)
    text = source_config.read_text()
    if uses_postgres(environ):
        kind = "postgres"
    else:
        config = yaml.safe_load(text)
        config.pop("storage", None)
        text = (
            "# Generated from the repository's dagster.yaml without its storage block:\n"
            "# runs and events live in SQLite files in this folder.\n"
            + yaml.safe_dump(config, sort_keys=False)
        )
        kind = "sqlite"
    (home / "dagster.yaml").write_text(text)
    return kind


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
