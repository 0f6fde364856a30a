"""Fixtures for tests that need real services: PostgreSQL and the platform topology."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from psycopg2 import sql

from platform_stack.instance import POSTGRES_VARS


def _unavailable(reason: str) -> None:
    # Under CI a missing server is a broken pipeline, not a reason to pass quietly.
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL-backed test cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], dict[str, str]]]:
    """A factory of fresh databases: each call returns the ``DAGSTER_POSTGRES_*`` of a new
    one. All are dropped at the end of the session.

    The variables from the environment name a role allowed to create databases
    (``source deploy/ci/services.sh`` provides one). A platform needs a database of its
    own: run and event records of another platform would look like work already done.
    """
    base = {v: os.environ.get(v, "") for v in POSTGRES_VARS}
    missing = [v for v, value in base.items() if not value]
    if missing:
        _unavailable(f"set {', '.join(missing)} (source deploy/ci/services.sh)")
    connect = {
        "host": base["DAGSTER_POSTGRES_HOST"],
        "port": int(base["DAGSTER_POSTGRES_PORT"]),
        "user": base["DAGSTER_POSTGRES_USER"],
        "password": base["DAGSTER_POSTGRES_PASSWORD"],
        "dbname": base["DAGSTER_POSTGRES_DB"],
    }
    try:
        psycopg2.connect(**connect).close()
    except psycopg2.OperationalError as exc:
        _unavailable(f"cannot connect to PostgreSQL: {exc}")
        raise
    created: list[str] = []

    def admin_execute(statement: sql.Composable) -> None:
        # A connection per statement: a test may restart the server in between.
        admin = psycopg2.connect(**connect)
        try:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(statement)
        finally:
            admin.close()

    def create() -> dict[str, str]:
        name = f"dagster_test_{secrets.token_hex(4)}"
        admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return {**base, "DAGSTER_POSTGRES_DB": name}

    try:
        yield create
    finally:
        for name in created:
            admin_execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def postgres_env(postgres_databases: Callable[[], dict[str, str]]) -> dict[str, str]:
    """``DAGSTER_POSTGRES_*`` of a database created for this test session, dropped after."""
    return postgres_databases()


@pytest.fixture(scope="session")
def postgres_query(postgres_env: dict[str, str]):
    """Run SQL against the session's Dagster database and return all rows."""

    def query(statement: str, params: tuple = ()) -> list[tuple]:
        with (
            psycopg2.connect(
                host=postgres_env["DAGSTER_POSTGRES_HOST"],
                port=int(postgres_env["DAGSTER_POSTGRES_PORT"]),
                user=postgres_env["DAGSTER_POSTGRES_USER"],
                password=postgres_env["DAGSTER_POSTGRES_PASSWORD"],
                dbname=postgres_env["DAGSTER_POSTGRES_DB"],
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute(statement, params)
            return cur.fetchall()

    return query
