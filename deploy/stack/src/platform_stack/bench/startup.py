"""Figure 7, start-up: each location's code server from process start to a SERVING
health check, against a bare ``import dagster`` in that location's own environment."""

from __future__ import annotations

import os
import subprocess

from platform_stack.bench.common import Context, median_seconds, progress, ratio
from platform_stack.instance import prepare_home
from platform_stack.topology import Topology, free_port, wait_until

TARGET_RATIO = 3.0


def run(context: Context) -> None:
    scratch = context.scratch / "startup"
    environ = {
        **os.environ,
        "WAREHOUSE_PATH": str(scratch / "wh.duckdb"),
        "LANDING_DIR": str(scratch / "landing"),
        "EXPORT_DIR": str(scratch / "exports"),
    }
    topology = Topology(root=context.root, home=scratch / "home", environ=environ)
    topology.assign_ports()
    prepare_home(topology.home, context.root / "dagster.yaml", topology.base_env())
    for loc in topology.locations:
        python = str(topology.location_bin(loc.name) / "python")

        def bare_import(python: str = python) -> None:
            subprocess.run([python, "-c", "import dagster"], check=True)

        def serve(name: str = loc.name) -> None:
            topology.code_server_ports = {**topology.code_server_ports, name: free_port()}
            topology.start_location(name, wait=False)
            try:
                wait_until(
                    lambda: topology.code_server_serving(name),
                    120,
                    f"code server {name}",
                    interval=0.05,
                )
            finally:
                topology.processes.pop(name).stop()

        baseline = median_seconds(bare_import, context.repeat)
        measured = median_seconds(serve, context.repeat)
        row = context.record(
            "startup",
            location=loc.name,
            baseline_seconds=round(baseline, 3),
            seconds=round(measured, 3),
            ratio=ratio(measured, baseline),
            target_ratio=TARGET_RATIO,
            repeat=context.repeat,
        )
        progress(
            f"startup {loc.name:<16} {measured:6.2f} s vs import dagster {baseline:5.2f} s, "
            f"ratio {row['ratio']:.2f} (target <= {TARGET_RATIO:g})"
        )
