"""Fixtures for tests that need real services: PostgreSQL and the platform topology."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from psycopg2 import sql

from tests.postgres_cluster import (
    PostgresServer,
    ServerUnavailable,
    given_server,
    throwaway_server,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL: the server ``DAGSTER_POSTGRES_*`` names, or else a
    throwaway cluster that lives as long as the session. Never a skip: a server that
    cannot be had fails the tests that need it, with what to do."""
    try:
        given = given_server()
        if given is not None:
            yield given
            return
        with throwaway_server() as server:
            yield server
    except ServerUnavailable as exc:
        pytest.fail(f"PostgreSQL-backed test cannot run: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_databases(
    postgres_server: PostgresServer,
) -> Iterator[Callable[[], dict[str, str]]]:
    """A factory of fresh databases: each call returns the ``DAGSTER_POSTGRES_*`` of a new
    one. All are dropped at the end of the session.

    A platform needs a database of its own: run and event records of another platform
    would look like work already done.
    """
    base = postgres_server.environ
    created: list[str] = []

    def admin_execute(statement: sql.Composable) -> None:
        # A connection per statement: a test may restart the server in between.
        admin = postgres_server.connect()
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
