"""Run a command beside the servers that the library tests run their variants on: a
PostgreSQL server for warehouse catalogs and an S3 server for landing and export buckets.

Usage: python -m tests.with_servers COMMAND [ARG ...]

The server is the one ``DAGSTER_POSTGRES_*`` names, or a throwaway cluster removed when
the command ends (``tests/postgres_cluster.py``). The command gets ``WAREHOUSE_TEST_POSTGRES``
(libpq keywords of a role that may create databases) and ``WAREHOUSE_CATALOG_PASSWORD``,
which ``platform_shared.testing`` reads to run every warehouse test on a PostgreSQL catalog
as well as on SQLite. The S3 server is a SeaweedFS started for the command
(``platform_stack.object_store``); the command gets ``STORAGE_TEST_S3_*``, and the landing and
export tests run on a bucket as well as on a folder. ``make test`` wraps the location and
shared-library tests in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack

from platform_shared.testing import S3_ENDPOINT_VAR, S3_KEY_VAR, S3_SECRET_VAR, SERVER_VAR
from platform_stack.object_store import S3Unavailable, s3_server
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
        try:
            s3 = stack.enter_context(s3_server())
        except S3Unavailable as exc:
            print(f"no S3 server for the landing and export tests: {exc}", file=sys.stderr)
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
            S3_ENDPOINT_VAR: s3.endpoint_url or "",
            S3_KEY_VAR: s3.access_key_id or "",
            S3_SECRET_VAR: s3.secret_access_key or "",
        }
        return subprocess.call(command, env=child)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
