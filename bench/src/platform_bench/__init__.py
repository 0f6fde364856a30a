"""Benchmarks: each figure is a ratio against a baseline measured in the same run.

Run with ``make bench`` (``ARGS="--figures startup --repeat 5"``). Progress lines show
where a long run is; the figures and a description of the machine go to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from platform_bench import concurrency, dataplane, fanout, latency, overhead, startup
from platform_bench.common import DEFAULT_ROWS, Context, Scale, machine
from platform_stack.workspace import read_locations

Figure = Callable[[Context], None]

FIGURES: dict[str, Figure] = {
    "startup": startup.run,
    "overhead": overhead.run,
    "concurrency": concurrency.run,
    "fanout": fanout.run,
    "latency": latency.run,
    "latency-s3": latency.run_s3,
    # Figure 6 (memory) is recorded from the runs of figure 1.
    "dataplane": dataplane.run,
    "dataplane-s3": dataplane.run_s3,
    "backfill": dataplane.run_backfill,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--root", default=".", help="repository root")
    parser.add_argument("--figures", nargs="+", default=list(FIGURES), choices=list(FIGURES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--scale",
        dest="scales",
        action="append",
        type=Scale.parse,
        help=f"sales rows[@days], repeatable (default {DEFAULT_ROWS // 1_000_000}M and 40M)",
    )
    parser.add_argument("--scratch", help="where data is generated (default: a temporary dir)")
    parser.add_argument("--out", default="artifacts/bench/results.json")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    assert read_locations(root / "workspace.yaml"), "no locations in workspace.yaml"
    scales = args.scales or [Scale(DEFAULT_ROWS), Scale(4 * DEFAULT_ROWS)]
    print(f"Benchmarks on {machine()}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        context = Context(root=root, scratch=Path(scratch), repeat=args.repeat, scales=scales)
        for name in args.figures:
            print(f"{name}:", flush=True)
            FIGURES[name](context)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": machine(),
        "scales": [s.label for s in scales],
        "results": context.results,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}", flush=True)
    return 0
