"""Benchmarks: each figure is a ratio against a baseline measured in the same run.

Run with ``make bench``. Prints a table as it goes and writes the figures with a
description of the machine as JSON. Implemented figures:

- ``startup``: each location's code server from process start to a SERVING health check,
  against a bare ``import dagster`` in that location's own environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from platform_stack.topology import HOST, Topology, free_port, wait_until
from platform_stack.workspace import read_locations


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def _median_seconds(action: Callable[[], None], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def startup(root: Path, repeat: int) -> list[dict[str, object]]:
    """Code-server start-up per location, against ``import dagster`` in its environment."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        environ = {
            **os.environ,
            "WAREHOUSE_PATH": f"{scratch}/wh.duckdb",
            "LANDING_DIR": f"{scratch}/landing",
            "EXPORT_DIR": f"{scratch}/exports",
        }
        topology = Topology(root=root, home=Path(scratch) / "home", environ=environ)
        topology.assign_ports()
        from platform_stack.instance import prepare_home

        prepare_home(topology.home, root / "dagster.yaml", topology.base_env())
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

            baseline = _median_seconds(bare_import, repeat)
            measured = _median_seconds(serve, repeat)
            row = {
                "figure": "startup",
                "location": loc.name,
                "baseline_seconds": round(baseline, 3),
                "seconds": round(measured, 3),
                "ratio": round(measured / baseline, 2),
                "target_ratio": 3.0,
                "repeat": repeat,
            }
            print(
                f"  startup  {loc.name:<16} {measured:6.2f} s  vs import dagster "
                f"{baseline:5.2f} s  ratio {row['ratio']:.2f} (target <= 3)",
                flush=True,
            )
            rows.append(row)
    return rows


FIGURES = {"startup": startup}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--root", default=".", help="repository root")
    parser.add_argument("--figures", nargs="+", default=list(FIGURES), choices=list(FIGURES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--out", default="artifacts/bench/results.json")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    assert read_locations(root / "workspace.yaml"), "no locations in workspace.yaml"
    print(f"Benchmarks on {machine()} (host {HOST})", flush=True)
    results = []
    for name in args.figures:
        print(f"{name}:", flush=True)
        results += FIGURES[name](root, args.repeat)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
