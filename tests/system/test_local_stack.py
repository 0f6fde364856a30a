"""The newcomer's path: `platform-stack dev` (what `make dev` runs) with its defaults.

Embedded SQLite storage, sample data written on first start, sensors on: data must
reach the analytics tables with nobody launching anything, and Ctrl-C must stop every
process the stack started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from platform_shared.resources import WarehouseResource
from platform_stack.topology import free_port, wait_until
from tests.system.harness import artifacts_dir, eventually, platform_environ

pytestmark = pytest.mark.system


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_stack_moves_sample_data_to_analytics_without_a_click(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    root = pytestconfig.rootpath
    logs = artifacts_dir(root, "local-stack")
    home = tmp_path / "home"
    port = free_port()
    environ = platform_environ(tmp_path, {})
    stack_bin = Path(sys.executable).parent / "platform-stack"
    with (logs / "platform-stack.log").open("wb") as log:
        stack = subprocess.Popen(
            [
                str(stack_bin),
                "--root",
                str(root),
                "--home",
                str(home),
                "dev",
                "--port",
                str(port),
                "--any-ports",
            ],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    state_file = home / "stack.json"
    try:
        wait_until(lambda: state_file.exists() or stack.poll() is not None, 240, "local stack")
        assert stack.poll() is None, (logs / "platform-stack.log").read_text()[-3000:]
        state = json.loads(state_file.read_text())
        assert set(state["processes"]) == {
            "ingestion",
            "transformation",
            "analytics",
            "webserver",
            "daemon",
        }
        # First start wrote the sample data set into the (empty) landing folder.
        landing = Path(environ["LANDING_URL"])
        assert len(list((landing / "sales").glob("*.csv"))) == 7

        warehouse = WarehouseResource(
            catalog=environ["WAREHOUSE_CATALOG"], data_path=environ["WAREHOUSE_DATA_PATH"]
        )
        catalog_file = Path(environ["WAREHOUSE_CATALOG"].removeprefix("sqlite:"))

        def analytics_loaded() -> tuple | None:
            if not catalog_file.exists():
                return None
            with warehouse.get_connection() as conn:
                tables = {
                    r[0]
                    for r in conn.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'analytics'"
                    ).fetchall()
                }
                if "sales_summary" not in tables:
                    return None
                summary = conn.execute(
                    "SELECT count(*), sum(revenue) FROM analytics.sales_summary"
                ).fetchone()
                loaded_days = conn.execute(
                    "SELECT count(DISTINCT date) FROM transformation.daily_sales"
                ).fetchone()
            if not summary or not loaded_days or loaded_days[0] < 7:
                return None
            return summary

        count, revenue = eventually(analytics_loaded, 420, "sample data in analytics")  # type: ignore[misc]
        assert count == 3
        with warehouse.get_connection() as conn:
            expected = conn.execute(
                "SELECT sum(quantity * unit_price) FROM ingestion.sales"
            ).fetchone()
        assert expected is not None
        assert revenue == expected[0]

        # One team's redeploy on the local stack: only its code server is replaced.
        before = json.loads(state_file.read_text())["processes"]
        restart = subprocess.run(
            [str(stack_bin), "--root", str(root), "--home", str(home), "restart", "transformation"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert restart.returncode == 0, restart.stderr
        after = json.loads(state_file.read_text())["processes"]
        assert after["transformation"] != before["transformation"]
        assert {k: v for k, v in after.items() if k != "transformation"} == {
            k: v for k, v in before.items() if k != "transformation"
        }
    finally:
        pids = json.loads(state_file.read_text())["processes"] if state_file.exists() else {}
        stack.send_signal(signal.SIGINT)
        stack.wait(90)
    # Ctrl-C stopped every process the stack had started.
    assert stack.returncode == 0
    assert [name for name, pid in pids.items() if _alive(pid)] == []
