"""The PostgreSQL server of a test session: the one named by ``DAGSTER_POSTGRES_*``, or a
throwaway cluster made from the machine's PostgreSQL binaries.

The throwaway cluster is driven by pytest-postgresql's executor (initdb, start, stop,
readiness). It lives in a folder of its own under the system's temporary directory rather
than in pytest's private ``tmp_path``: PostgreSQL refuses to run as root, so a root test
session (CI) runs the server as the unprivileged ``postgres`` account, which must be able
to enter the data and socket folders.

Clients reach it on 127.0.0.1 with a generated password (scram-sha-256); only the unix
socket, in a folder that nobody but the server's owner can enter, trusts local peers, so
the session can set that password once the server is up.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import port_for
import psycopg2
from psycopg2 import sql
from pytest_postgresql.executors import PostgreSQLExecutor
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from platform_stack.instance import POSTGRES_VARS

# The account a root session runs the server as; Debian's postgresql package creates it.
SERVER_ACCOUNT = "postgres"
TEST_ROLE = "dagster_test"
INSTALL_HINT = "sh deploy/ci/test-deps.sh installs PostgreSQL (Debian/Ubuntu)"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server can be used: the message says what to do."""


def find_pg_ctl() -> str:
    """The newest ``pg_ctl`` on this machine: PATH first, then Debian's versioned folders."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return on_path
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ServerUnavailable(f"no PostgreSQL server binaries (pg_ctl) found: {INSTALL_HINT}")
    return str(versions[-1])


@dataclass
class PostgresServer:
    """Where the session's server is and how to restart it."""

    environ: dict[str, str]
    executor: PostgreSQLExecutor | None = None
    logfile: Path | None = None

    @property
    def throwaway(self) -> bool:
        return self.executor is not None

    def connect(self, dbname: str | None = None):
        return psycopg2.connect(
            host=self.environ["DAGSTER_POSTGRES_HOST"],
            port=int(self.environ["DAGSTER_POSTGRES_PORT"]),
            user=self.environ["DAGSTER_POSTGRES_USER"],
            password=self.environ["DAGSTER_POSTGRES_PASSWORD"],
            dbname=dbname or self.environ["DAGSTER_POSTGRES_DB"],
        )

    def restart(self) -> None:
        """Stop the server (fast mode: open sessions are cut) and start it again."""
        if self.executor is not None:
            self.executor.stop()
            self.executor.start()
        else:
            _restart_local_cluster(self.environ["DAGSTER_POSTGRES_PORT"])


def given_server() -> PostgresServer | None:
    """The server named by the environment, or None when no variable names one."""
    values = {v: os.environ.get(v, "") for v in POSTGRES_VARS}
    if not any(values.values()):
        return None
    missing = [v for v, value in values.items() if not value]
    if missing:
        raise ServerUnavailable(
            f"DAGSTER_POSTGRES_* is set only in part (missing {', '.join(missing)}): "
            "set all five, or none for a throwaway cluster"
        )
    server = PostgresServer(environ=values)
    try:
        server.connect().close()
    except psycopg2.OperationalError as exc:
        raise ServerUnavailable(f"cannot connect to the PostgreSQL server given: {exc}") from exc
    return server


@contextmanager
def throwaway_server() -> Iterator[PostgresServer]:
    """A new cluster on a free 127.0.0.1 port, removed with its data when the block ends."""
    pg_ctl = find_pg_ctl()
    workdir = Path(tempfile.mkdtemp(prefix="platform-pg-"))
    executor: PostgreSQLExecutor | None = None
    try:
        socket_dir = workdir / "socket"
        socket_dir.mkdir(mode=0o700)
        executable = pg_ctl
        if os.geteuid() == 0:
            executable = _as_server_account(pg_ctl, workdir, socket_dir)
        executor = PostgreSQLExecutor(
            executable=executable,
            host="127.0.0.1",
            port=port_for.select_random(),
            datadir=str(workdir / "data"),
            unixsocketdir=str(socket_dir),
            logfile=str(workdir / "postgresql.log"),
            startparams="-w",
            dbname="postgres",
            user="postgres",
            # More than the default 100: a fault case runs a whole platform (three code
            # servers, daemon, webserver and their run workers) beside the test's own.
            postgres_options="-c max_connections=200 -c fsync=off",
        )
        executor.init_directory()
        _require_passwords_over_tcp(workdir / "data" / "pg_hba.conf")
        executor.start()
        password = f"test-{secrets.token_hex(12)}"
        _create_test_role(socket_dir, executor.port, password)
        yield PostgresServer(
            environ={
                "DAGSTER_POSTGRES_HOST": "127.0.0.1",
                "DAGSTER_POSTGRES_PORT": str(executor.port),
                "DAGSTER_POSTGRES_USER": TEST_ROLE,
                "DAGSTER_POSTGRES_PASSWORD": password,
                "DAGSTER_POSTGRES_DB": TEST_ROLE,
            },
            executor=executor,
            logfile=workdir / "postgresql.log",
        )
    finally:
        if executor is not None and executor.running():
            executor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _as_server_account(pg_ctl: str, workdir: Path, socket_dir: Path) -> str:
    """A ``pg_ctl`` that runs as the unprivileged server account; hands it the folders."""
    try:
        account = pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError as exc:
        raise ServerUnavailable(
            f"running as root needs the '{SERVER_ACCOUNT}' account to run PostgreSQL: "
            f"{INSTALL_HINT}"
        ) from exc
    for folder in (workdir, socket_dir):
        os.chown(folder, account.pw_uid, account.pw_gid)
    wrapper = workdir / "bin" / "pg_ctl"
    wrapper.parent.mkdir()
    # `cd /`: the server account may not be able to enter the test session's folder.
    wrapper.write_text(f'#!/bin/sh\ncd / && exec runuser -u {SERVER_ACCOUNT} -- "{pg_ctl}" "$@"\n')
    wrapper.chmod(stat.S_IRWXU)
    return str(wrapper)


def _require_passwords_over_tcp(hba: Path) -> None:
    """initdb's trust rules stay for the private socket; TCP clients need the password."""
    rules = [
        "local all all trust",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ]
    hba.write_text("\n".join(rules) + "\n")


@retry(
    retry=retry_if_exception_type(psycopg2.OperationalError),
    stop=stop_after_delay(60),
    wait=wait_fixed(0.5),
    reraise=True,
)
def _admin_connection(socket_dir: Path, port: int) -> Any:
    # pg_ctl -w can return while the server still answers "the database system is starting
    # up" (seen on a loaded machine): keep asking for a minute.
    return psycopg2.connect(host=str(socket_dir), port=port, user="postgres", dbname="postgres")


def _create_test_role(socket_dir: Path, port: int, password: str) -> None:
    admin = _admin_connection(socket_dir, port)
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD %s").format(
                    sql.Identifier(TEST_ROLE)
                ),
                (password,),
            )
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(TEST_ROLE), sql.Identifier(TEST_ROLE)
                )
            )
    finally:
        admin.close()


def _restart_local_cluster(port: str) -> None:
    """Restart the Debian cluster serving ``port`` (a server given by the environment)."""
    if os.geteuid() != 0:
        raise ServerUnavailable("restarting the given PostgreSQL server needs root (pg_ctlcluster)")
    try:
        listing = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ServerUnavailable(
            f"pg_lsclusters unavailable, cannot restart PostgreSQL: {exc}"
        ) from exc
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == port:
            subprocess.run(["pg_ctlcluster", version, name, "restart"], check=True)
            return
    raise ServerUnavailable(f"no local PostgreSQL cluster on port {port}: {listing!r}")
