"""Run a command beside a PostgreSQL server that tests may make warehouse catalogs on.

Usage: python -m tests.with_postgres COMMAND [ARG ...]

The server is the one ``DAGSTER_POSTGRES_*`` names, or a throwaway cluster removed when
the command ends (``tests/postgres_cluster.py``). The command gets ``WAREHOUSE_TEST_POSTGRES``
(libpq keywords of a role that may create databases) and ``WAREHOUSE_CATALOG_PASSWORD``,
which ``platform_shared.testing`` reads to run every warehouse test on a PostgreSQL catalog
as well as on SQLite. ``make test`` wraps the location and shared-library tests in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack

from platform_shared.testing import SERVER_VAR
from tests.postgres_cluster import ServerUnavailable, given_server, throwaway_server


def main(command: list[str]) -> int:
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    # Stopped from outside (a CI time-out, `kill`): unwind, so the throwaway cluster is
    # stopped and removed and the command is killed, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with ExitStack() as stack:
        try:
            server = given_server() or stack.enter_context(throwaway_server())
        except ServerUnavailable as exc:
            print(f"no PostgreSQL server for the warehouse tests: {exc}", file=sys.stderr)
            return 1
        env = server.environ
        keywords = (
            f"host={env['DAGSTER_POSTGRES_HOST']} port={env['DAGSTER_POSTGRES_PORT']} "
            f"user={env['DAGSTER_POSTGRES_USER']}"
        )
        child = {
            **os.environ,
            SERVER_VAR: keywords,
            "WAREHOUSE_CATALOG_PASSWORD": env["DAGSTER_POSTGRES_PASSWORD"],
        }
        return subprocess.call(command, env=child)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
