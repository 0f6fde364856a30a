"""Figure 7, start-up: each location's code server from process start to a SERVING
health check, against a bare ``import dagster`` in that location's own environment.

The code server starts as the topology starts it: ``dagster api grpc``, one process. For
comparison the figure also times ``dagster code-server start``, a proxy process that
starts that same server as its child: two Python start-ups instead of one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

from platform_bench.common import Context, lake_env, median_seconds, progress, ratio
from platform_stack.instance import prepare_home
from platform_stack.topology import Process, Topology, free_port, wait_until

TARGET_RATIO = 3.0
PROXY_COMMAND = ["code-server", "start"]


def run(context: Context) -> None:
    scratch = context.scratch / "startup"
    environ = {
        **os.environ,
        **lake_env(scratch / "warehouse"),
        "LANDING_URL": str(scratch / "landing"),
        "EXPORT_URL": str(scratch / "exports"),
    }
    topology = Topology(root=context.root, home=scratch / "home", environ=environ)
    topology.assign_ports()
    prepare_home(topology.home, context.root / "dagster.yaml", topology.base_env())
    for loc in topology.locations:
        python = str(topology.location_bin(loc.name) / "python")

        def bare_import(python: str = python) -> None:
            subprocess.run([python, "-c", "import dagster"], check=True)

        def serve(name: str = loc.name, proxy: bool = False) -> float:
            """Seconds from process start to SERVING; stopping the server is not timed."""
            topology.code_server_ports = {**topology.code_server_ports, name: free_port()}
            proc: Process | None = None
            started = time.perf_counter()
            try:
                if proxy:
                    proc = topology._code_server(
                        next(x for x in topology.locations if x.name == name)
                    )
                    proc.argv[1:3] = PROXY_COMMAND  # in place of `api grpc`
                    proc.start(topology.root)
                else:
                    topology.start_location(name, wait=False)
                    proc = topology.processes.pop(name)
                wait_until(
                    lambda: topology.code_server_serving(name),
                    120,
                    f"code server {name}",
                    interval=0.05,
                )
                return time.perf_counter() - started
            finally:
                if proc is not None:
                    # The proxy drains for a long time on SIGTERM; the timing is already taken.
                    proc.stop(timeout=5)

        baseline = median_seconds(bare_import, context.repeat)
        measured = statistics.median(serve() for _ in range(context.repeat))
        proxied = statistics.median(serve(proxy=True) for _ in range(context.repeat))
        row = context.record(
            "startup",
            location=loc.name,
            baseline_seconds=round(baseline, 3),
            seconds=round(measured, 3),
            ratio=ratio(measured, baseline),
            target_ratio=TARGET_RATIO,
            command="dagster api grpc",
            proxy_seconds=round(proxied, 3),
            proxy_ratio=ratio(proxied, baseline),
            repeat=context.repeat,
        )
        progress(
            f"startup {loc.name:<16} {measured:6.2f} s vs import dagster {baseline:5.2f} s, "
            f"ratio {row['ratio']:.2f} (target <= {TARGET_RATIO:g}); "
            f"code-server start {proxied:.2f} s, ratio {row['proxy_ratio']:.2f}"
        )
