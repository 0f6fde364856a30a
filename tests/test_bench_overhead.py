"""Figures 5 (per-asset overhead) and 8 (concurrency) at a tiny size: the report's
structure and its internal consistency, never its timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import platform_bench as bench
from platform_bench import overhead
from platform_bench.common import Context

pytestmark = [pytest.mark.processes, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def postgres_role(postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures create their own databases with the session's role."""
    for name, value in postgres_env.items():
        monkeypatch.setenv(name, value)


def test_overhead_is_platform_minus_direct_per_asset(
    postgres_role: None, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    context = Context(root=pytestconfig.rootpath, scratch=tmp_path, repeat=1, scales=[])
    overhead.run(context, assets=5, multiprocess_assets=1)
    rows = context.results
    assert [(r["figure"], r["executor"], r["assets"]) for r in rows] == [
        ("overhead", "in_process", 5),
        ("overhead", "multiprocess", 1),
    ]
    for row in rows:
        assert (row["shape"], row["storage"]) == ("chain", "postgres")
        platform, direct = float(row["platform_seconds"]), float(row["direct_seconds"])  # type: ignore[arg-type]
        assert platform > direct >= 0
        expected = (platform - direct) / int(row["assets"])  # type: ignore[arg-type]
        assert row["per_asset_seconds"] == pytest.approx(expected)
        assert row["target_per_asset_seconds"] == overhead.TARGET_SECONDS_PER_ASSET
    # The instance keeps its connections: the chain's events do not open one per asset.
    assert 0 <= float(rows[0]["connections_per_asset"]) < 1  # type: ignore[arg-type]
    assert float(rows[0]["connect_seconds"]) > 0  # type: ignore[arg-type]


def test_concurrency_runs_every_location_without_lock_failures(
    postgres_role: None, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    out = tmp_path / "results.json"
    argv = ["--root", str(pytestconfig.rootpath), "--figures", "concurrency"]
    argv += ["--repeat", "1", "--scale", "600@2", "--scratch", str(tmp_path), "--out", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["scales"] == ["600@2"]
    (row,) = report["results"]
    assert row["figure"] == "concurrency"
    assert [r.split(":")[0] for r in row["runs_per_round"]] == [
        "ingestion",
        "transformation",
        "analytics",
    ]
    # Four set-up runs, then three serial and three concurrent runs.
    assert row["runs"] == 4 + 3 + 3
    assert (row["failed_runs"], row["failed_steps"], row["lock_failures"]) == (0, 0, 0)
    # No pool stands between the lake's writers: no step ever waits for a slot.
    assert row["steps_waited_for_pool"] == 0
    assert (row["days"], row["sales_rows"]) == (2, 600)
    assert row["partition_problems"] == []
    assert row["partitions_exactly_once"] is True
    assert row["ratio"] == round(row["concurrent_seconds"] / row["serial_seconds"], 2)
