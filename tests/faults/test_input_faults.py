"""Malformed and hostile inputs, and secrets, on the real topology.

One platform serves the module. The cases build on it in file order: malformed files of
different days are delivered together and observed through the sensors' real runs, then
hostile partition keys and file names must leave that warehouse unchanged, and finally
everything the platform wrote is searched for the secrets it was given.

Static exposure of the deployment files (only the webserver port published, on loopback;
every image ends as a non-root user) is covered by ``tests/deploy/test_static.py``
(``test_only_the_webserver_publishes_a_port_and_on_loopback``,
``test_every_image_runs_as_a_non_root_user``); this module adds what those leave open:
compose never switching a service back to root, and the running stack listening on
loopback only.

Observed outcomes go to ``artifacts/faults/input_faults.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    RunRecord,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from psycopg2 import sql

from platform_shared.sample_data import SampleSpec
from platform_stack.topology import Topology
from tests.alert_receivers import Hooks, Mailbox, body, free_port
from tests.faults.conftest import PlatformFactory
from tests.system.harness import (
    TEAMS,
    alert_environ,
    eventually,
    landing_dir,
    sensor_ticked_after,
    sensor_ticks,
    team_address,
    warehouse_of,
)
from tests.system.landing import Day, deliver_reference

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

SENSOR_TAG = "dagster/sensor_name"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
SOURCE_FILE_TAG = "ingestion/source_file"
PARENT_RUN_TAG = "dagster/parent_run_id"
# The landing contract as the README states it, not as the ingestion code declares it.
SALES_HEADER = "sale_id,order_id,customer_id,product_id,quantity,unit_price,sale_ts"
ORDERS_HEADER = "order_id,customer_id,order_ts,status"
# Ten times the daily volume of the sample data `make dev` writes.
USUAL_DAY_ROWS = SampleSpec().sales_per_day
HOSTILE_KEY = "2024-01-01'); DROP TABLE x;--"
PLANTED_NAME = "PARTNER_API_TOKEN"
PLANTED_SECRET = f"tok-{secrets.token_hex(16)}"
REPORT: dict[str, Any] = {}


# --- platform and observation helpers -----------------------------------------------------


@pytest.fixture(scope="module")
def platform(
    start_platform: PlatformFactory, receivers: tuple[Mailbox, Hooks, Path]
) -> Iterator[Topology]:
    """The module's platform; every process gets a secret-looking variable to leak, and its
    alerts go to the module's receivers. Ingestion's webhook is down (a closed port): its
    email must go out all the same."""
    mailbox, hooks, routes = receivers
    webhooks = {team: f"{hooks.url}/{team}" for team in TEAMS}
    webhooks["ingestion"] = f"http://127.0.0.1:{free_port()}/ingestion"
    alerting = alert_environ(routes, mailbox.port, webhooks)
    # The daemon evaluates freshness policies every 5 s instead of 30.
    extra = {PLANTED_NAME: PLANTED_SECRET, **alerting, "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5"}
    with start_platform("input_faults", **extra) as topology:
        yield topology


@pytest.fixture(scope="module")
def instance(platform: Topology) -> Iterator[DagsterInstance]:
    """The platform's instance, opened from this process (same PostgreSQL database)."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in platform.base_env().items() if k.startswith("DAGSTER")})
    try:
        inst = DagsterInstance.from_config(str(platform.home))
        yield inst
        inst.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module", autouse=True)
def report(pytestconfig: pytest.Config) -> Iterator[dict[str, Any]]:
    """Observed outcomes of the module, written as JSON and printed at the end."""
    yield REPORT
    out = pytestconfig.rootpath / "artifacts" / "faults" / "input_faults.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(REPORT, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\n--- {out.relative_to(pytestconfig.rootpath)} ---\n{out.read_text()}")


def _postgres(platform: Topology) -> Callable[..., list[tuple]]:
    """Queries on the platform's own Dagster database."""
    env = platform.environ

    def query(statement: str | sql.Composable, params: tuple = ()) -> list[tuple]:
        with (
            psycopg2.connect(
                host=env["DAGSTER_POSTGRES_HOST"],
                port=int(env["DAGSTER_POSTGRES_PORT"]),
                user=env["DAGSTER_POSTGRES_USER"],
                password=env["DAGSTER_POSTGRES_PASSWORD"],
                dbname=env["DAGSTER_POSTGRES_DB"],
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute(statement, params)
            return cur.fetchall()

    return query


def _location(run: DagsterRun) -> str:
    origin = run.remote_job_origin
    return origin.location_name if origin else ""


def _records(instance: DagsterInstance) -> list[RunRecord]:
    return list(instance.get_run_records())


def _sensor_ticks(platform: Topology, location: str, sensor: str) -> list[float]:
    """Tick times of a sensor; none while the webserver fails to answer (polled again)."""
    try:
        return _ticks(platform, location, sensor)
    except OSError:  # an overloaded webserver answers 500 now and then
        return []


def _ticks(platform: Topology, location: str, sensor: str) -> list[float]:
    return sensor_ticks(platform, location, sensor)


def _query(platform: Topology, statement: str, params: list[object] | None = None) -> list[tuple]:
    # A short connection each time: the test must not hold the warehouse lock the runs need.
    with warehouse_of(platform).get_connection() as conn:
        return conn.execute(statement, params or []).fetchall()


def _table_exists(platform: Topology, schema: str, table: str) -> bool:
    rows = _query(
        platform,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    )
    return bool(rows[0][0])


def _regional(platform: Topology, date: str) -> dict[str, tuple[int, int, Decimal]]:
    if not _table_exists(platform, "transformation", "regional_daily_sales"):
        return {}
    rows = _query(
        platform,
        "SELECT region, orders, units, revenue FROM transformation.regional_daily_sales "
        "WHERE date = ?::DATE AND (orders > 0 OR units > 0)",
        [date],
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _summary(platform: Topology) -> dict[str, tuple[int, Decimal]]:
    if not _table_exists(platform, "analytics", "sales_summary"):
        return {}
    rows = _query(platform, "SELECT region, units, revenue FROM analytics.sales_summary")
    return {r[0]: (r[1], r[2]) for r in rows}


# --- case 7: malformed files --------------------------------------------------------------


@dataclass
class Malformed:
    """One delivered file: its bytes, its good rows and the lines that must be refused."""

    name: str
    relative: str
    content: bytes
    good: int
    rejects: dict[int, str] = field(default_factory=dict)  # line number -> reason fragment
    day: Day | None = None  # good sale rows, for the downstream figures

    @property
    def date(self) -> str:
        return Path(self.relative).stem

    @property
    def asset(self) -> str:
        return self.relative.split("/")[0]

    @property
    def data_lines(self) -> int:
        """Non-blank lines after the header, counted here from the bytes themselves."""
        lines = self.content.split(b"\n")[1:]
        return sum(1 for line in lines if line.strip())


def _sale_line(row: tuple) -> str:
    return ",".join(str(v) for v in row)


def _file(header: str, body: list[tuple[bytes, str | None]], *, bom: bool = False):
    """Bytes of a CSV with ``body`` lines, and line number -> expected reason of bad ones."""
    lines = [header.encode()] + [line for line, _ in body]
    rejects = {i + 2: reason for i, (_, reason) in enumerate(body) if reason is not None}
    return (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + b"\n", rejects


def _sales_case(
    name: str,
    date: str,
    first_id: int,
    good: int,
    bad: dict[int, tuple[bytes, str]],
    *,
    bom: bool = False,
) -> Malformed:
    """``good`` valid sale lines with ``bad`` lines inserted before the given good index."""
    day = Day(date=date, first_id=first_id, lines=good)
    body: list[tuple[bytes, str | None]] = []
    for i, row in enumerate(day.sales):
        if i in bad:
            body.append(bad[i])
        body.append((_sale_line(row).encode(), None))
    body += [bad[i] for i in sorted(bad) if i >= good]
    content, rejects = _file(SALES_HEADER, body, bom=bom)
    return Malformed(name, f"sales/{date}.csv", content, good, rejects, day)


def _malformed_cases() -> list[Malformed]:
    t = "10:30:00"
    cases = [
        _sales_case(
            "wrong_column_count",
            "2025-03-10",
            310_000,
            12,
            {
                4: (b"310900,310900,1", "expected 7 fields, found 3"),
                8: (f"310901,310900,1,1,1,1.50,2025-03-10 {t},x".encode(), "found 8"),
                12: (b"oops", "expected 7 fields, found 1"),
            },
        ),
        _sales_case(
            "bad_dates_and_numbers",
            "2025-03-01",
            301_000,
            100,
            {
                10: (b"301900,301900,1,1,1,1.50,2025-02-30 10:00:00", "sale_ts is not a valid"),
                20: (b"301901,301900,1,1,1,1.50,01/03/2025 10:00", "sale_ts is not a valid"),
                30: (f"301902,301900,1,1,two,1.50,2025-03-01 {t}".encode(), "quantity is not"),
                40: (
                    f"301903,301900,1,1,1,9.999,2025-03-01 {t}".encode(),
                    "unit_price is not an amount",
                ),
            },
        ),
        _sales_case(
            "unterminated_quote",
            "2025-03-02",
            302_000,
            40,
            {20: (f'302900,"302900,1,1,1,1.50,2025-03-02 {t}'.encode(), "unterminated quotes")},
        ),
        Malformed("empty_file", "sales/2025-03-03.csv", b"", 0),
        Malformed("header_only", "sales/2025-03-04.csv", (SALES_HEADER + "\n").encode(), 0),
        _sales_case("byte_order_mark", "2025-03-05", 305_000, 30, {}, bom=True),
        _sales_case(
            "non_utf8_bytes",
            "2025-03-11",
            311_000,
            10,
            {
                3: (f"311900,311900,1,1,1,1.50,2025-03-11 {t}\xe9".encode("latin-1"), "UTF-8"),
                7: ("311901,caf\xe9,1,1,1,1.50,2025-03-11 10:00:00".encode("latin-1"), "UTF-8"),
            },
        ),
    ]
    # Ten times a usual day, 1% of it quantity 0: within the threshold, so it flows on.
    big = 10 * USUAL_DAY_ROWS
    bad_every = 100
    cases.append(
        _sales_case(
            "oversized_10x",
            "2025-03-06",
            306_000,
            big - big // bad_every,
            {
                i: (
                    f"{396_000 + i},{396_000 + i},1,1,0,1.50,2025-03-06 {t}".encode(),
                    "quantity is not positive",
                )
                for i in range(0, big - big // bad_every, bad_every - 1)
            },
        )
    )
    orders_day = cases[1].day
    assert orders_day is not None
    order_lines = orders_day.orders_csv().splitlines()[1:]
    body: list[tuple[bytes, str | None]] = [(line.encode(), None) for line in order_lines]
    body.insert(5, (b"301990,1,2025-13-01 08:00:00,completed", "order_ts is not a valid"))
    content, rejects = _file(ORDERS_HEADER, body)
    cases.append(
        Malformed("orders_bad_date", "orders/2025-03-01.csv", content, len(order_lines), rejects)
    )
    return cases


CASES = _malformed_cases()


def _ingestion_run(records: list[RunRecord], case: Malformed) -> RunRecord | None:
    """The newest attempt of the one run the sensor requested for ``case``'s file.

    A run whose launch failed (e.g. a code server too slow to answer) is retried by the
    instance: the retry carries the same tags and names its parent.
    """
    found = [r for r in records if r.dagster_run.tags.get(SOURCE_FILE_TAG) == case.relative]
    requested = [r for r in found if PARENT_RUN_TAG not in r.dagster_run.tags]
    assert len(requested) <= 1, f"{case.relative}: {len(requested)} sensor requests"
    return max(found, key=lambda r: r.create_timestamp) if found else None


def _check_passed(instance: DagsterInstance, run_id: str) -> bool | None:
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if isinstance(data, AssetCheckEvaluation):
            return data.passed
    return None


def _days_touched(run: DagsterRun) -> set[str]:
    """The dates a transformation or analytics run was asked to process (by its tags)."""
    tags = run.tags
    if PARTITION_TAG in tags:
        return {tags[PARTITION_TAG][:10]}
    if RANGE_START_TAG in tags:
        start, end = tags[RANGE_START_TAG][:10], tags[RANGE_END_TAG][:10]
        return {f"{start}..{end}"}
    return set()


def _covers(span: str, date: str) -> bool:
    start, _, end = span.partition("..")
    return start <= date <= (end or start)


# Ten files load, then the good days flow on: minutes on a quiet machine, far more when
# the cores are shared.
@pytest.mark.timeout(1800)
def test_malformed_files_are_quarantined_line_by_line(
    platform: Topology, instance: DagsterInstance
) -> None:
    threshold = float(platform.base_env()["REJECT_RATE_THRESHOLD"])
    landing = landing_dir(platform)
    deliver_reference(landing)
    started = time.monotonic()
    for case in CASES:
        path = landing / case.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(case.content)
        os.replace(tmp, path)

    def ingested() -> list[RunRecord] | None:
        records = _records(instance)
        runs = [_ingestion_run(records, case) for case in CASES]
        if all(r is not None and r.dagster_run.is_finished for r in runs):
            return [r for r in runs if r is not None]
        return None

    loads = eventually(ingested, 900, "one finished ingestion run per delivered file")
    assert isinstance(loads, list)
    ingested_at = time.monotonic() - started
    last_end = max(r.end_time or 0 for r in loads)

    blocked = {c.date for c in CASES if c.asset == "sales" and c.rejects and _rate(c) > threshold}
    passing = [c for c in CASES if c.asset == "sales" and c.date not in blocked]
    expected_summary: dict[str, tuple[int, Decimal]] = {}
    for case in passing:
        assert case.day is not None or case.good == 0
        for region, (_, units, revenue) in (case.day.regional() if case.day else {}).items():
            u, r = expected_summary.get(region, (0, Decimal(0)))
            expected_summary[region] = (u + units, r + revenue)

    def settled() -> bool:
        records = _records(instance)
        return (
            all(r.dagster_run.is_finished for r in records)
            and any(
                t > last_end
                for t in _sensor_ticks(platform, "transformation", "sales_models_sensor")
            )
            and all(
                _regional(platform, c.date) == (c.day.regional() if c.day else {}) for c in passing
            )
            and _summary(platform) == expected_summary
        )

    eventually(settled, 900, "good days in analytics, with every run finished")
    REPORT["malformed_seconds_to_ingested"] = round(ingested_at, 1)
    REPORT["malformed_seconds_to_settled"] = round(time.monotonic() - started, 1)
    REPORT["reject_rate_threshold"] = threshold

    outcomes: dict[str, dict[str, Any]] = {}
    for case, record in zip(CASES, loads, strict=True):
        table, column = (
            ("sales", "sale_date") if case.asset == "sales" else ("orders", "order_date")
        )
        loaded = _query(
            platform,
            f"SELECT count(*) FROM ingestion.{table} WHERE {column} = ?::DATE",
            [case.date],
        )[0][0]
        rejected = _query(
            platform,
            "SELECT source_file, line_number, reason FROM ingestion.rejected_rows "
            "WHERE asset = ? AND partition_key = ? ORDER BY line_number",
            [case.asset, case.date],
        )
        passed = _check_passed(instance, record.dagster_run.run_id)
        outcomes[case.name] = {
            "file": case.relative,
            "bytes": len(case.content),
            "data_lines": case.data_lines,
            "loaded": loaded,
            "quarantined": len(rejected),
            "reject_rate": round(_rate(case), 4),
            "check_passed": passed,
            "run_status": record.dagster_run.status.value,
            "reasons": sorted({reason for _, _, reason in rejected}),
        }
        # Every data line is accounted for: loaded or quarantined with where and why.
        assert loaded == case.good, case.name
        assert loaded + len(rejected) == case.data_lines, case.name
        assert {source for source, _, _ in rejected} <= {case.relative}, case.name
        assert {line: reason for _, line, reason in rejected}.keys() == case.rejects.keys(), (
            case.name
        )
        for _, line, reason in rejected:
            assert case.rejects[line] in reason, (case.name, line, reason)
        assert passed is (_rate(case) <= threshold), case.name
    REPORT["malformed"] = outcomes

    # Above the threshold nothing downstream ran for that day, and nothing of it arrived.
    downstream = [
        r.dagster_run for r in _records(instance) if _location(r.dagster_run) != "ingestion"
    ]
    spans = {s for run in downstream for s in _days_touched(run)}
    assert blocked == {"2025-03-10", "2025-03-11"}
    for date in sorted(blocked):
        assert not [s for s in spans if _covers(s, date)], (date, spans)
        assert _query(
            platform,
            "SELECT count(*) FROM transformation.enriched_sales WHERE sale_date = ?::DATE",
            [date],
        ) == [(0,)]
        assert _regional(platform, date) == {}
    # The analytics totals are those of the passing days only (checked by `settled`).
    REPORT["downstream_runs"] = sorted(
        f"{_location(run)}/{run.job_name} {sorted(_days_touched(run))} {run.status.value}"
        for run in downstream
    )
    REPORT["blocked_days"] = sorted(blocked)


def _rate(case: Malformed) -> float:
    return len(case.rejects) / case.data_lines if case.data_lines else 0.0


# --- case 11: hostile partition keys and file names ---------------------------------------


def _warehouse_snapshot(platform: Topology) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the sorted rows of every table and view."""
    with warehouse_of(platform).get_connection() as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "ORDER BY table_schema, table_name"
        ).fetchall()
        snapshot = {}
        for schema, name in tables:
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::VARCHAR, chr(10) "
                f'ORDER BY t::VARCHAR), \'\')) FROM "{schema}"."{name}" AS t'
            ).fetchone()
            assert row is not None
            snapshot[f"{schema}.{name}"] = (row[0], row[1])
    return snapshot


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""


def _launch(platform: Topology, tags: dict[str, str]) -> dict[str, Any]:
    try:
        return _launch_mutation(platform, tags)
    except RuntimeError as exc:
        # The webserver refused the request outright (the resolver raised).
        return {"__typename": "GraphQLError", "message": str(exc)}


def _launch_mutation(platform: Topology, tags: dict[str, str]) -> dict[str, Any]:
    return platform.graphql(
        LAUNCH,
        {
            "params": {
                "selector": {
                    "repositoryLocationName": "ingestion",
                    "repositoryName": "__repository__",
                    "jobName": "daily_feeds_job",
                    "assetSelection": [{"path": ["ingestion", "sales"]}],
                },
                "runConfigData": {},
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        },
    )["launchRun"]


def _run_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    messages = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            messages.append("MATERIALIZATION")
        messages.append(entry.message or "")
        if event is not None and event.event_type in (
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.RUN_FAILURE,
        ):
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                messages.append(error.message)
    return messages


HOSTILE_NAMES = {
    "dots": "2025-03-20..csv",
    "single_quote": "2025-03-21'.csv",
    "double_quote": '2025-03-21".csv',
    "space": "2025-03-22 .csv",
    "newline": "2025-03-2\n3.csv",
    "sql": "2025-03-24.csv'); DROP TABLE x;--",
}
SYMLINK_NAME = "2025-03-25.csv"


def _process_logs(platform: Topology) -> str:
    assert platform.log_dir is not None
    return "\n".join(
        p.read_text(errors="replace") for p in sorted(platform.log_dir.rglob("*")) if p.is_file()
    )


# The slowest sensor a delivery wakes (transformation's order history) ticks every 60 s.
QUIET_SECONDS = 75


def _wait_quiet(instance: DagsterInstance) -> None:
    """Until no run is unfinished and none ended in the last ``QUIET_SECONDS``: whatever
    earlier deliveries set off has reached every location."""

    def quiet() -> bool:
        records = _records(instance)
        if not all(r.dagster_run.is_finished for r in records):
            return False
        last_end = max((r.end_time or 0.0 for r in records), default=0.0)
        return time.time() - last_end > QUIET_SECONDS

    eventually(quiet, 600, f"no run for {QUIET_SECONDS} s")


def test_hostile_keys_and_names_are_refused_before_sql_or_files(
    platform: Topology, instance: DagsterInstance, tmp_path: Path
) -> None:
    # The snapshot must not move for any other reason, e.g. the customer models that the
    # previous case's reference files set off a sensor interval later.
    _wait_quiet(instance)
    before = _warehouse_snapshot(platform)
    assert before.get("ingestion.sales", (0, ""))[0] > 0  # there is something to protect
    landing = landing_dir(platform)
    outcomes: dict[str, Any] = {}

    # Partition keys: as a run's partition, and as the ends of a partition range.
    for name, tags in {
        "partition_tag": {PARTITION_TAG: HOSTILE_KEY},
        "range_tags": {RANGE_START_TAG: HOSTILE_KEY, RANGE_END_TAG: HOSTILE_KEY},
    }.items():
        result = _launch(platform, tags)
        if result["__typename"] != "LaunchRunSuccess":
            outcomes[name] = {"refused_at_launch": result["__typename"], "message": result}
            assert HOSTILE_KEY in str(result.get("message")), (name, result)
            continue
        run_id = result["run"]["runId"]
        run = eventually(
            lambda run_id=run_id: (r := instance.get_run_by_id(run_id)) and r.is_finished and r,
            180,
            f"the hostile {name} run to finish",
        )
        assert isinstance(run, DagsterRun)
        messages = _run_messages(instance, run_id)
        refusal = [m for m in messages if HOSTILE_KEY in m or repr(HOSTILE_KEY) in m]
        outcomes[name] = {"run_status": run.status.value, "log_lines": refusal[:3]}
        assert run.status.value == "FAILURE", name
        assert "MATERIALIZATION" not in messages, name
        assert refusal, (name, messages)

    # File names: each would load 5 good rows if it were accepted.
    good = Day(date="2025-03-20", first_id=320_000, lines=5).sales_csv()
    outside = tmp_path / "outside" / "2025-03-25.csv"
    outside.parent.mkdir()
    outside.write_text(good.replace("2025-03-20", "2025-03-25"))
    sales_dir = landing / "sales"
    for hostile in HOSTILE_NAMES.values():
        (sales_dir / hostile).write_text(good)
    (sales_dir / SYMLINK_NAME).symlink_to(outside)
    dropped = time.time()
    runs_before = len(_records(instance))
    eventually(
        lambda: (
            len(
                [
                    t
                    for t in _sensor_ticks(platform, "ingestion", "sales_file_sensor")
                    if t > dropped + 6
                ]
            )
            >= 1
        ),
        120,
        "a sales sensor tick after the hostile files settled",
    )
    assert len(_records(instance)) == runs_before  # no run for any of them
    after = _warehouse_snapshot(platform)
    assert after == before
    logs = _process_logs(platform)
    found = {}
    for name, hostile in {**HOSTILE_NAMES, "symlink": SYMLINK_NAME}.items():
        lines = [
            line for line in logs.splitlines() if repr(hostile)[1:-1] in line and "Skipping" in line
        ]
        found[name] = lines[:1]
    outcomes["file_names"] = found
    REPORT["hostile"] = outcomes
    assert all(found.values()), found


# --- case 11b: failures and stale tables reach the team that owns them ------------------


def test_runs_failed_on_bad_input_notify_exactly_their_owning_team(
    platform: Topology, instance: DagsterInstance, receivers: tuple[Mailbox, Hooks, Path]
) -> None:
    mailbox, hooks, _ = receivers
    # The malformed case's days over the reject-rate threshold failed their loads.
    failed = [
        r.dagster_run
        for r in _records(instance)
        if r.dagster_run.status.value == "FAILURE"
        and r.dagster_run.remote_job_origin is not None
        and r.dagster_run.remote_job_origin.location_name == "ingestion"
    ]
    assert {r.tags.get(PARTITION_TAG) for r in failed} == {"2025-03-10", "2025-03-11"}
    ingestion = team_address("ingestion")

    def mails(run_id: str) -> list[str]:
        return [body(m) for m in mailbox.to(ingestion) if run_id in body(m)]

    eventually(lambda: all(mails(r.run_id) for r in failed), 180, "an email per failed run")
    # A sensor tick later, still exactly one per run.
    now = time.time()
    eventually(
        lambda: sensor_ticked_after(platform, "ingestion", "run_failure_alerts", now),
        120,
        "another tick of ingestion's run_failure_alerts",
    )
    url = platform.webserver_url
    report = {}
    for run in failed:
        (text,) = mails(run.run_id)
        day = run.tags[PARTITION_TAG]
        report[run.run_id] = text.splitlines()
        assert f"Run {run.run_id} of job {run.job_name} in location ingestion failed." in text
        assert f"Partitions: {day}" in text
        assert "Assets:     ingestion/sales" in text
        assert "Failed step: ingestion__sales" in text
        assert "Retry:      none coming (attempt 1)" in text
        assert f"Run:        {url}/runs/{run.run_id}" in text
        assert "reject_rate" in text.split("\nError:\n", 1)[1]
    REPORT["alerts"] = report
    # Exactly the owning team: no other team heard of these runs, by email or webhook.
    ids = {r.run_id for r in failed}
    others = [m for m in mailbox.messages if m["X-Rcpt"] != ingestion]
    assert not [m for m in others if any(i in body(m) for i in ids)]
    assert not [h for _, h in hooks.received if h.get("run_id") in ids]
    # Ingestion's webhook is down: tried, logged without its URL, and the email went out.
    logs = _process_logs(platform)
    assert "to webhook INGESTION_ALERTS_WEBHOOK failed after 3 attempts" in logs
    assert platform.environ["INGESTION_ALERTS_WEBHOOK"] not in logs


def test_a_table_past_its_freshness_bound_notifies_its_owners_once(
    platform: Topology, instance: DagsterInstance, receivers: tuple[Mailbox, Hooks, Path]
) -> None:
    mailbox, hooks, _ = receivers
    key = AssetKey(["analytics", "top_products"])
    subject = "[analytics] analytics/top_products is overdue"
    # Its last update recorded three days ago: past the policy's 48 hours.
    _record_old_materialization(instance, key, time.time() - 3 * 24 * 3600)
    analytics = team_address("analytics")

    def overdue() -> list[Any]:
        return [m for m in mailbox.to(analytics) if m["Subject"] == subject]

    eventually(overdue, 180, "the overdue email to analytics")
    noticed = time.time()
    eventually(
        lambda: sensor_ticked_after(platform, "analytics", "freshness_alerts", noticed + 1),
        120,
        "another tick of analytics' freshness_alerts",
    )
    assert len(overdue()) == 1
    text = body(overdue()[0])
    assert "within its freshness policy (updated at least every 2 days)." in text
    assert f"{platform.webserver_url}/assets/analytics/top_products" in text
    hooked = [h for h in hooks.at("/analytics") if h["kind"] == "freshness_overdue"]
    assert [h["asset"] for h in hooked] == ["analytics/top_products"]
    # Only its owners.
    assert not [m for m in mailbox.messages if m["Subject"] == subject and m["X-Rcpt"] != analytics]
    REPORT["freshness_alert"] = text.splitlines()


def _record_old_materialization(instance: DagsterInstance, key: AssetKey, when: float) -> None:
    """Store a materialization of ``key`` dated ``when``, as if nothing had updated it
    since. Dagster offers no public way to date an event, hence the event classes."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="__RUNLESS__",
        event_specific_data=StepMaterializationData(AssetMaterialization(asset_key=key)),
    )
    instance.store_event(
        EventLogEntry(
            error_info=None,
            level="debug",
            user_message="",
            run_id="",
            timestamp=when,
            dagster_event=event,
        )
    )


# --- case 12: exposure and secrets --------------------------------------------------------


def test_compose_never_switches_a_service_back_to_root(pytestconfig: pytest.Config) -> None:
    """What the static deploy tests leave open: a compose ``user:`` overrides the image's."""
    compose = yaml.safe_load((pytestconfig.rootpath / "docker-compose.yml").read_text())
    users = {name: str(svc.get("user", "")) for name, svc in compose["services"].items()}
    REPORT["compose_user_overrides"] = {n: u for n, u in users.items() if u}
    assert [n for n, u in users.items() if u.split(":")[0] in {"0", "root"}] == []
    for name, service in compose["services"].items():
        assert service.get("pid") != "host", name
        assert service.get("ipc") != "host", name
        assert not service.get("cap_add"), name


def _process_tree(roots: list[int]) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree = set(roots)
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def _address(hex_address: str) -> str:
    raw, port = hex_address.split(":")
    data = bytes.fromhex(raw)
    # /proc/net stores each 32-bit word of the address in host (little-endian) order.
    words = b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))
    family = socket.AF_INET if len(data) == 4 else socket.AF_INET6
    return f"{socket.inet_ntop(family, words)}:{int(port, 16)}"


def _listening(pids: set[int]) -> list[str]:
    """Addresses on which ``pids`` accept TCP connections."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1]))
    return sorted(found)


def test_running_stack_listens_on_loopback_only(platform: Topology) -> None:
    pids = [p.pid for p in platform.processes.values() if p.pid is not None]
    addresses = _listening(_process_tree(pids))
    REPORT["listening"] = addresses
    ports = {int(a.rsplit(":", 1)[1]) for a in addresses}
    assert {platform.webserver_port, *platform.code_server_ports.values()} <= ports
    # gRPC servers bind an IPv6 socket; 127.0.0.1 then shows in its IPv4-mapped form.
    loopback = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
    assert [a for a in addresses if a.rsplit(":", 1)[0] not in loopback] == []


def _texts_with(values: dict[str, str], texts: dict[str, bytes]) -> dict[str, list[str]]:
    """For each secret (by name), the sources whose text contains it."""
    return {
        name: sorted(src for src, text in texts.items() if value.encode() in text)
        for name, value in values.items()
    }


def test_secrets_stay_out_of_logs_records_ui_and_repository(
    platform: Topology, pytestconfig: pytest.Config
) -> None:
    password = platform.environ["DAGSTER_POSTGRES_PASSWORD"]
    values = {"postgres_password": password, PLANTED_NAME: PLANTED_SECRET}
    assert len(password) >= 8
    # Finding nothing proves something only if the processes were given the values.
    pid = platform.processes["ingestion"].pid
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    given = all(v.encode() in environ for v in values.values())
    assert given, "the code server was not started with both secret values"

    texts: dict[str, bytes] = {}
    assert platform.log_dir is not None
    for root in (platform.log_dir, platform.home):  # process logs; compute and tick logs
        for path in sorted(root.rglob("*")):
            if path.is_file():
                texts[f"file:{path.relative_to(root.parent)}"] = path.read_bytes()
    log_files = len(texts)

    query = _postgres(platform)
    tables = [t for (t,) in query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    row_counts = {}
    for table in tables:
        rows = query(sql.SQL("SELECT r::text FROM {} AS r").format(sql.Identifier(table)))
        row_counts[table] = len(rows)
        texts[f"postgres:{table}"] = "\n".join(r for (r,) in rows).encode()
    assert row_counts["runs"] > 0
    assert row_counts["event_logs"] > 0

    info = platform.graphql("{ instance { info } }")["instance"]["info"]
    runs = platform.graphql(
        "{ runsOrError { ... on Runs { results { runId runConfigYaml tags { key value } } } } }"
    )["runsOrError"]["results"]
    texts["graphql:instance.info"] = (info or "").encode()
    texts["graphql:runs"] = json.dumps(runs).encode()
    # Booleans only: a failing assertion must not print text that may hold a secret.
    describes_storage = bool(info) and "PooledRunStorage" in info
    assert describes_storage, "instance info does not describe the storage"
    assert len(runs) == row_counts["runs"]

    committed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=pytestconfig.rootpath, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, committed.split("\0")):
        path = pytestconfig.rootpath / name
        if path.is_file():
            texts[f"git:{name}"] = path.read_bytes()

    found = _texts_with(values, texts)
    REPORT["secrets"] = {
        "sources_scanned": {
            "process_and_instance_files": log_files,
            "postgres_tables": row_counts,
            "graphql_runs": len(runs),
            "committed_files": sum(1 for k in texts if k.startswith("git:")),
        },
        "found_in": found,  # names of sources only, never the values
    }
    assert found == {name: [] for name in values}
