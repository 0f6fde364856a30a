"""What every benchmark figure shares: the run context, medians, rows and progress lines."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

DEFAULT_ROWS = 10_000_000
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class Scale:
    """A sample-data size: ``rows`` sales lines spread over ``days`` daily files."""

    rows: int
    days: int = DEFAULT_DAYS

    @classmethod
    def parse(cls, text: str) -> Scale:
        """``10M``, ``40M``, ``250k`` or ``1000000``, optionally ``@<days>`` (``1M@30``)."""
        size, _, days = text.partition("@")
        size = size.strip().lower()
        factor = {"k": 1_000, "m": 1_000_000}.get(size[-1:], 1)
        number = size[:-1] if factor > 1 else size
        rows = int(float(number) * factor)
        if rows <= 0:
            raise ValueError(f"scale must be positive: {text!r}")
        return cls(rows=rows, days=int(days) if days else DEFAULT_DAYS)

    @property
    def label(self) -> str:
        if self.rows % 1_000_000 == 0:
            size = f"{self.rows // 1_000_000}M"
        elif self.rows % 1_000 == 0:
            size = f"{self.rows // 1_000}k"
        else:
            size = str(self.rows)
        return size if self.days == DEFAULT_DAYS else f"{size}@{self.days}"


@dataclass
class Context:
    """Inputs every figure receives from the command line."""

    root: Path
    scratch: Path
    repeat: int
    scales: list[Scale]
    results: list[dict[str, object]] = field(default_factory=list)

    def record(self, figure: str, **values: object) -> dict[str, object]:
        """Keep one result row (it goes to the JSON report) and return it."""
        row: dict[str, object] = {"figure": figure, **values}
        self.results.append(row)
        return row


def machine() -> dict[str, object]:
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
    }


def progress(message: str) -> None:
    """One line on stdout, flushed at once so a long run shows where it is."""
    print(f"  {time.strftime('%H:%M:%S')} {message}", flush=True)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(action) for _ in range(repeat))


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile, the definition that needs no interpolation to explain."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def ratio(measured: float, baseline: float) -> float:
    return round(measured / baseline, 2) if baseline > 0 else float("inf")


def lake_env(folder: Path) -> dict[str, str]:
    """The warehouse settings of a platform whose lake (SQLite catalog) lives in ``folder``."""
    return {
        "WAREHOUSE_CATALOG": f"sqlite:{folder / 'catalog.sqlite'}",
        "WAREHOUSE_DATA_PATH": str(folder / "lake"),
    }


@contextmanager
def read_warehouse(folder: Path, data_path: str = "") -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to what a run left in ``folder``: the baseline's DuckDB file
    (``warehouse.duckdb``) or the platform's lake (:func:`lake_env`), whose Parquet files
    are under ``data_path`` when that is a bucket (this process's ``AWS_*`` reach it)."""
    single = folder / "warehouse.duckdb"
    if single.exists():
        with duckdb.connect(str(single), read_only=True) as conn:
            yield conn
        return
    from platform_shared.resources import WarehouseResource

    reader = WarehouseResource(
        catalog=lake_env(folder)["WAREHOUSE_CATALOG"], data_path=data_path, read_only=True
    )
    with reader.get_connection() as conn:
        yield conn
