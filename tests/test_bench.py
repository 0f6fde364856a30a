"""The benchmark script runs and reports ratios with their baselines (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import platform_bench as bench

pytestmark = [pytest.mark.processes, pytest.mark.slow]


def test_startup_figure_reports_a_ratio_per_location(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    out = tmp_path / "results.json"
    assert (
        bench.main(
            [
                "--root",
                str(pytestconfig.rootpath),
                "--figures",
                "startup",
                "--repeat",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["machine"]["cpus"]
    rows = report["results"]
    assert [r["location"] for r in rows] == ["ingestion", "transformation", "analytics"]
    for row in rows:
        assert row["baseline_seconds"] > 0
        assert abs(row["ratio"] - row["seconds"] / row["baseline_seconds"]) < 0.05
