"""Reload one code location in the webserver this runs beside (`make deploy`'s last step).

Copied into the host image and run inside the operators' webserver container
(``compose exec -T webserver python /opt/dagster/app/reload_location.py <location>``): it
reaches the webserver on the container's own loopback, not through the sign-in proxy
that the compose stack publishes. The recreated code server needs a while to load its
definitions: until it answers, the reload is asked again. Exit status 1, with the
server's reason, when the reload fails for any other reason or the server never answers.

    python reload_location.py LOCATION [--port 3000] [--wait 180]
"""

from __future__ import annotations

import argparse
import sys
import time

from dagster_graphql import DagsterGraphQLClient, ReloadRepositoryLocationStatus

# What the webserver answers while the code server is not listening yet.
UNREACHABLE = "DagsterUserCodeUnreachableError"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reload one code location in this webserver.")
    parser.add_argument("location")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--wait", type=float, default=180, help="seconds to wait for the code server to answer"
    )
    args = parser.parse_args(argv)
    client = DagsterGraphQLClient("127.0.0.1", port_number=args.port, timeout=120)
    deadline = time.monotonic() + args.wait
    while True:
        info = client.reload_repository_location(args.location)
        if info.status == ReloadRepositoryLocationStatus.SUCCESS:
            print(f"{args.location} reloaded in the webserver", flush=True)
            return 0
        if UNREACHABLE not in (info.message or "") or time.monotonic() > deadline:
            print(
                f"reloading {args.location} failed: {info.failure_type}: {info.message}",
                file=sys.stderr,
            )
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
