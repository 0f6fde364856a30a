"""The data-plane figures run end to end at a tiny scale and report consistent rows.

Timings are never asserted: only the report's structure, that each ratio is the one its
seconds give, that the platform's results matched the baseline's, and that memory was
read from the run processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import platform_bench as bench

# Some twenty process starts; a busy machine can stretch them well past the default.
pytestmark = [pytest.mark.processes, pytest.mark.slow, pytest.mark.timeout(1800)]


def test_dataplane_backfill_and_memory_figures(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    out = tmp_path / "results.json"
    argv = ["--root", str(pytestconfig.rootpath), "--figures", "dataplane", "backfill"]
    argv += ["--scale", "10k@1", "--repeat", "2", "--scratch", str(tmp_path), "--out", str(out)]
    assert bench.main(argv) == 0
    rows = json.loads(out.read_text())["results"]
    by_figure: dict[str, list[dict]] = {}
    for row in rows:
        by_figure.setdefault(row["figure"], []).append(row)

    (dataplane,) = by_figure["dataplane"]
    assert dataplane["scale"] == "10k@1"
    assert dataplane["days"] == 1
    assert dataplane["storage"] in {"postgres", "sqlite"}
    assert dataplane["result_check"] == "passed"
    # 10,000 rows in one day, less the deliberately malformed lines.
    assert 9_950 < dataplane["sales_rows"] < 10_000
    assert float(dataplane["total_revenue"]) > 0
    assert abs(dataplane["ratio"] - dataplane["seconds"] / dataplane["baseline_seconds"]) < 0.01
    cpu_ratio = dataplane["cpu_seconds"] / dataplane["baseline_cpu_seconds"]
    assert abs(dataplane["cpu_ratio"] - cpu_ratio) < 0.01
    # Two samples of each side; the figure reports the lower median of each, a real sample.
    assert dataplane["repeat"] == 2
    samples = dataplane["samples"]
    assert len(samples) == 2
    assert dataplane["seconds"] == min(s["seconds"] for s in samples)
    assert dataplane["baseline_seconds"] == min(s["baseline_seconds"] for s in samples)
    # The lake baseline is the denominator; the DuckDB file beside it, in the same sample,
    # prices the format.
    assert dataplane["file_baseline_seconds"] > 0
    lake_cost = dataplane["baseline_seconds"] / dataplane["file_baseline_seconds"]
    assert abs(dataplane["lake_baseline_vs_file"] - lake_cost) < 0.05
    overhead = dataplane["seconds"] - dataplane["baseline_seconds"]
    assert abs(dataplane["overhead_seconds"] - overhead) < 0.01
    runs = dataplane["runs"]
    assert [r["location"] for r in runs] == ["ingestion"] * 2 + ["transformation"] * 3 + [
        "analytics"
    ]
    assert abs(sum(r["seconds"] for r in runs) - dataplane["seconds"]) < 0.01

    (memory,) = by_figure["memory"]
    assert memory["peak_rss_bytes"] > 0
    # A ceiling: the largest run process of either sample, not of the median one only.
    assert memory["peak_rss_mb"] == max(s["peak_rss_mb"] for s in samples)
    assert memory["peak_rss_mb"] >= max(r["peak_rss_mb"] for r in runs)
    assert memory["baseline_peak_rss_mb"] > 0

    ranged, per_partition = by_figure["backfill"]
    assert ranged["partitions"] == 1
    assert ranged["result_check"] == "passed"
    assert ranged["sales_rows"] == dataplane["sales_rows"]
    assert ranged["total_revenue"] == dataplane["total_revenue"]
    assert abs(ranged["ratio"] - ranged["seconds"] / ranged["baseline_seconds"]) < 0.01
    # One day: an ingestion, a sales-models and three regional runs.
    assert per_partition["runs"] == 5
    assert per_partition["per_partition_seconds"] == pytest.approx(
        per_partition["seconds"], abs=0.01
    )
    assert per_partition["extrapolated_partitions"] == 1
    assert "extrapolation" in per_partition["note"]


def test_dataplane_on_a_bucket_beside_folders(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """Figure 1 with every file in a bucket: equal results to its baseline on the same
    bucket, and the platform on folders timed in the same sample."""
    out = tmp_path / "results.json"
    argv = ["--root", str(pytestconfig.rootpath), "--figures", "dataplane-s3"]
    argv += ["--scale", "10k@1", "--repeat", "1", "--scratch", str(tmp_path), "--out", str(out)]
    assert bench.main(argv) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["figure"] == "dataplane-s3"
    assert row["result_check"] == "passed"
    assert 9_950 < row["sales_rows"] < 10_000
    assert abs(row["ratio"] - row["seconds"] / row["baseline_seconds"]) < 0.01
    assert abs(row["vs_folder"] - row["seconds"] / row["folder_seconds"]) < 0.01
    assert row["target_vs_folder"] is None  # a target only at 10M rows
    (sample,) = row["samples"]
    assert sample == {
        "baseline_seconds": row["baseline_seconds"],
        "seconds": row["seconds"],
        "folder_seconds": row["folder_seconds"],
    }
    assert [r["location"] for r in row["runs"]] == ["ingestion"] * 2 + ["transformation"] * 3 + [
        "analytics"
    ]
