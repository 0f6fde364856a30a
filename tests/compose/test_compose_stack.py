"""The compose stack for real: images built offline, the stack up with no volume shared
between containers, the sample files `make up` put into the landing bucket through to
analytics while a reader container queries the lake, the sign-in in front of every path
and each role's webserver, one team's redeploy, and faults in containers (a code server
and the object store dying mid-load, PostgreSQL restarting). The tests share one stack
(see ``conftest.py``) and build on each other in file order, as the system tests of the
local topology do.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import secrets
import signal
import socket
import tarfile
import time
from decimal import Decimal

import bcrypt
import pytest

from platform_shared.sample_data import FIRST_START
from platform_stack import accounts
from tests.compose.conftest import record
from tests.compose.stack import (
    LOCATIONS,
    OBJECTS_UID,
    PLATFORM_UID,
    PROXY_UID,
    ROLES,
    SERVICES,
    ComposeStack,
    basic_auth,
)
from tests.deploy.deploy_support import LOCATION_DOCKERFILE, parse_dockerfile
from tests.system.harness import eventually, launch_chromium
from tests.system.landing import Day

# A test waits on the daemon, sensors and container restarts: minutes, not seconds.
pytestmark = [pytest.mark.compose, pytest.mark.timeout(1200)]

PARTITION = "dagster/partition"
PARENT = "dagster/parent_run_id"
RANGE_START = "dagster/asset_partition_range_start"
SCHEDULE = "dagster/schedule_name"
# Computed here from the files in the landing bucket, with none of the platform's code:
# each sales file's valid lines as region to (units, revenue), the region of each customer
# of the delivered customers.csv, and the valid lines of each day.
CONTRIBUTIONS: dict[str, dict[str | None, tuple[int, Decimal]]] = {}
REGION_OF: dict[int, str] = {}
VALID_LINES: dict[str, int] = {}
FIRST = Day(date="2025-03-03", first_id=20_000)
AFTER_DEPLOY = Day(date="2025-03-04", first_id=21_000)
AFTER_POSTGRES = Day(date="2025-03-05", first_id=22_000)
CRASH_DATE = "2025-03-06"
CRASH_ROWS = 3_000_000
STORE_RESTART_DATE = "2025-03-07"
STORE_RESTART_ROWS = 2_000_000
NEW_DESCRIPTION = "Sales enriched with customer region and product, redeployed alone."
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _valid_sale(fields: list[str]) -> tuple[int, int, Decimal] | None:
    """(customer, quantity, price) of a sales line the contract accepts, else None: seven
    fields, whole ids, a positive quantity, a price of at least 0, a timestamp."""
    if len(fields) != 7:
        return None
    sale_id, order_id, customer, product, quantity, price, ts = fields
    try:
        ids = [int(v) for v in (sale_id, order_id, customer, product)]
        units, unit_price = int(quantity), Decimal(price)
        dt.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S")
    except (ValueError, ArithmeticError):
        return None
    return (ids[2], units, unit_price) if units > 0 and unit_price >= 0 else None


def _count(name: str, text: str) -> None:
    """Record what the sales file ``name`` adds to analytics and to its day."""
    regional: dict[str | None, tuple[int, Decimal]] = {}
    valid, seen = 0, set()
    for fields in list(csv.reader(io.StringIO(text)))[1:]:
        sale = _valid_sale(fields)
        if sale is None or fields[0] in seen:  # a repeated sale_id is quarantined too
            continue
        seen.add(fields[0])
        customer, units, price = sale
        region = REGION_OF.get(customer)
        u, r = regional.get(region, (0, Decimal(0)))
        regional[region] = (u + units, r + units * price)
        valid += 1
    CONTRIBUTIONS[name] = regional
    VALID_LINES[name.removeprefix("sales/").removesuffix(".csv")] = valid


def _expected_summary() -> dict[str | None, tuple[int, Decimal]]:
    totals: dict[str | None, tuple[int, Decimal]] = {}
    for contribution in CONTRIBUTIONS.values():
        for region, (units, revenue) in contribution.items():
            u, r = totals.get(region, (0, Decimal(0)))
            totals[region] = (u + units, r + revenue)
    return totals


def _deliver_day(stack: ComposeStack, day: Day) -> None:
    stack.deliver(f"orders/{day.date}.csv", day.orders_csv())
    stack.deliver(f"sales/{day.date}.csv", day.sales_csv())
    _count(f"sales/{day.date}.csv", day.sales_csv())


def _in_progress(stack: ComposeStack) -> list[dict]:
    return [r for r in stack.runs() if r["status"] not in FINISHED]


def _analytics_settled(stack: ComposeStack) -> bool:
    return not _in_progress(stack) and stack.sales_summary() == _expected_summary()


def _started_at(stack: ComposeStack) -> dict[str, tuple[str, str]]:
    """Service to (container id, start time)."""
    out = {}
    for service in SERVICES:
        info = stack.inspect(service)
        out[service] = (info["Id"], info["State"]["StartedAt"])
    return out


def _retry_of(stack: ComposeStack, run_id: str) -> dict | None:
    return next((r for r in stack.runs() if r["tags"].get(PARENT) == run_id), None)


def _verdict(stack: ComposeStack, run_id: str) -> dict | None:
    run = stack.run_by_id(run_id)
    return run if run is not None and run["status"] in FINISHED else None


def _await_success_or_retried(stack: ComposeStack, run_id: str, timeout: float) -> str:
    """A run reaches SUCCESS, or FAILURE and a retry that succeeds; never stays STARTED."""
    run = eventually(lambda: _verdict(stack, run_id), timeout, f"a verdict for run {run_id}")
    if run["status"] == "SUCCESS":
        return "finished"
    assert run["status"] == "FAILURE", run
    retry = eventually(lambda: _retry_of(stack, run_id), timeout, f"a retry of {run_id}")
    done = eventually(lambda: _verdict(stack, retry["runId"]), timeout, "the retry's verdict")
    assert done["status"] == "SUCCESS", done
    assert done["tags"].get("dagster/retry_number") == "1"
    return "failed and retried"


# -- build and start ---------------------------------------------------------------------


def test_unknown_location_is_refused(stack: ComposeStack) -> None:
    proc = stack.make("deploy", "LOCATION=billing", check=False, timeout=60)
    assert proc.returncode == 2
    assert "unknown location 'billing'" in proc.stderr
    assert "ingestion transformation analytics" in proc.stderr
    # Nothing was rebuilt or recreated.
    assert "build-images" not in proc.stdout + proc.stderr


def test_images_are_offline_builds_without_the_ca_bundle(stack: ComposeStack) -> None:
    images = [f"data-platform/{s}:compose-test" for s in ("host", "proxy", "objects", *LOCATIONS)]
    for image in images:
        info = stack.docker("image", "inspect", image).stdout
        # Built on the Debian base of offline-base.sh: Debian's interpreter under /usr, not
        # the official image's /usr/local.
        prefix = stack.docker(
            "run", "--rm", "--entrypoint", "python3", image,
            "-c", "import sys; print(sys.base_prefix)",
        ).stdout.strip()  # fmt: skip
        assert prefix == "/usr", (image, prefix)
        uid = {"proxy": PROXY_UID, "objects": OBJECTS_UID}.get(
            image.split("/")[1].split(":")[0], PLATFORM_UID
        )
        assert f'"User": "{uid}:{uid}"' in info, image
        if stack.ca_marker is None:
            continue
        # The bundle was a build secret: no layer, no history entry and no config holds it.
        history = stack.docker("history", "--no-trunc", image).stdout
        assert stack.ca_marker not in history + info, image
        archive = stack.log_dir / "image.tar"
        stack.docker("save", "-o", str(archive), image, timeout=600)
        try:
            with tarfile.open(archive) as saved:
                for member in saved.getmembers():
                    content = saved.extractfile(member) if member.isfile() else None
                    if content is not None:
                        assert stack.ca_marker.encode() not in content.read(), (image, member.name)
        finally:
            archive.unlink()
    sizes = stack.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout
    (stack.log_dir / "image-sizes.txt").write_text(sizes)


def test_services_are_healthy_and_locations_loaded(stack: ComposeStack) -> None:
    # Under way meanwhile: the first week of sample files, loaded on two cores.
    eventually(lambda: set(stack.health().values()) == {"healthy"}, 600, "every service healthy")
    record("up_to_all_healthy_s", time.monotonic() - stack.up_at)
    eventually(
        lambda: stack.answers() and stack.location_statuses() == dict.fromkeys(LOCATIONS, "LOADED"),
        120,
        "the webserver to list the three locations loaded",
    )
    assert stack.daemons_healthy()


def test_no_volume_is_shared_between_containers(stack: ComposeStack) -> None:
    """As on separate machines: PostgreSQL and the object store each mount a volume of
    their own, no other container mounts any, and the one folder of the host is the
    proxy's accounts (read-only), as the engine reports them."""
    volumes: dict[str, list[str]] = {}
    binds: dict[str, list[tuple[str, bool]]] = {}
    for service in SERVICES:
        for mount in stack.inspect(service)["Mounts"]:
            if mount["Type"] == "volume":
                volumes.setdefault(mount["Name"], []).append(service)
            elif mount["Type"] == "bind":
                binds.setdefault(service, []).append((mount["Destination"], mount["RW"]))
    assert volumes == {
        f"{stack.project}_postgres-data": ["postgres"],
        f"{stack.project}_objects-data": ["objects"],
    }
    assert binds == {
        "postgres": [("/docker-entrypoint-initdb.d", False)],
        "proxy": [("/etc/nginx/auth", False)],
    }


def _observed_days(answers: list[dict]) -> list[dict[str, int]]:
    """Each answer of the reader as day to row count; an error other than the table not
    existing yet fails the test."""
    seen = []
    for answer in answers:
        if "error" in answer:
            assert "does not exist" in answer["error"], answer["error"]
            continue
        seen.append({day: int(count) for day, count in answer["rows"]})
    return seen


def test_sample_files_reach_analytics_while_a_reader_queries(stack: ComposeStack) -> None:
    """`make up` put the sample files into the landing bucket; they, and a day delivered
    now, reach analytics with the totals computed here from the bucket's files. A reader
    in a container of its own queries the lake all along and only ever sees whole days."""
    landed = stack.landing_files()
    sales = sorted(n for n in landed if n.startswith("sales/"))
    assert sales == [f"sales/{day}.csv" for day in FIRST_START.dates()]
    assert {"customers.csv", "products.csv"} <= set(landed)
    for fields in list(csv.reader(io.StringIO(landed["customers.csv"])))[1:]:
        REGION_OF[int(fields[0])] = fields[3]
    for name in sales:
        _count(name, landed[name])
    # The sample has malformed lines (1 in 100): the expected totals leave them out.
    assert sum(VALID_LINES.values()) < FIRST_START.sales_per_day * FIRST_START.days

    reader = stack.start_reader(
        "SELECT sale_date::VARCHAR, count(*) FROM ingestion.sales GROUP BY ALL", interval=1.0
    )
    try:
        _deliver_day(stack, FIRST)
        delivered = time.monotonic()
        eventually(
            lambda: _analytics_settled(stack), 600, "analytics.sales_summary to match the files"
        )
        record("files_to_analytics_s", time.monotonic() - delivered)
        record("up_to_data_in_analytics_s", time.monotonic() - stack.up_at)
    finally:
        answers = stack.stop_reader(reader)
    seen = _observed_days(answers)
    assert len(seen) >= 5, answers[-5:]
    for days in seen:
        # A day is absent or whole: never part of a file.
        assert all(count == VALID_LINES[day] for day, count in days.items()), days
    # The reader saw the new day arrive: it queried during the writes.
    assert FIRST.date not in seen[0]
    assert FIRST.date in seen[-1]
    (stack.log_dir / "reader-answers.json").write_text(json.dumps(answers[-50:], indent=1))
    record("reader_answers", len(seen))

    assert stack.sales_stats(FIRST.date) == (
        len(FIRST.sales),
        sum((q * p for *_, q, p, _ in FIRST.sales), Decimal(0)),
    )
    # The two malformed lines are quarantined with the object's key, line and reason.
    rejected = stack.query(
        "SELECT source_file, line_number, reason FROM ingestion.rejected_rows "
        "WHERE source_file LIKE ? ORDER BY line_number",
        [f"%sales/{FIRST.date}.csv"],
    )
    assert rejected is not None
    assert [(r[0], r[1]) for r in rejected] == [
        (f"sales/{FIRST.date}.csv", len(FIRST.sales) + 2),
        (f"sales/{FIRST.date}.csv", len(FIRST.sales) + 3),
    ]
    assert all(r[2] for r in rejected)


# -- exposure ----------------------------------------------------------------------------


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_only_the_proxy_is_published_on_loopback_and_nothing_runs_as_root(
    stack: ComposeStack,
) -> None:
    for service in SERVICES:
        info = stack.inspect(service)
        bindings = {k: v for k, v in (info["NetworkSettings"]["Ports"] or {}).items() if v}
        if service == "proxy":
            assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(stack.port)}]}
        else:
            assert bindings == {}, (service, bindings)
        # Every process of every container, the init process included, runs as non-root.
        top = stack.docker("top", info["Id"], "-eo", "pid,uid,args").stdout.splitlines()[1:]
        assert top, service
        uids = {line.split()[1] for line in top}
        assert "0" not in uids, (service, top)
        if service == "proxy":
            assert uids == {PROXY_UID}, (service, top)
        elif service == "objects":
            assert uids == {OBJECTS_UID}, (service, top)
        elif service != "postgres":
            assert uids == {PLATFORM_UID}, (service, uids)
    assert _connects("127.0.0.1", stack.port)
    # PostgreSQL, the object store, the code servers and both webservers are on no host
    # port, as compose itself reports.
    published = stack.compose("port", "proxy", "8080").stdout.strip()
    assert published == f"127.0.0.1:{stack.port}"
    internal = [
        ("postgres", "5432"),
        ("objects", "8333"),
        ("webserver", "3000"),
        ("webserver-read-only", "3000"),
    ]
    for service, port in [*internal, *((loc, "4000") for loc in LOCATIONS)]:
        proc = stack.compose("port", service, port, check=False)
        assert not re.search(r":\d+$", proc.stdout.strip()), (service, proc.stdout)


# -- sign-in and roles --------------------------------------------------------------------

# The UI's pages, its API and what the page loads: every one behind the sign-in.
SIGNED_IN_PATHS = ("/", "/graphql", "/server_info", "/locations", "/assets", "/favicon.ico")
VERSION = json.dumps({"query": "{ version }"}).encode()
JSON = {"Content-Type": "application/json"}


def test_up_refuses_without_an_account(stack: ComposeStack) -> None:
    refused = stack.refused_up
    assert refused is not None
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no account for the sign-in proxy" in refused.stderr
    assert "make add-user NAME=<name> ROLE=operator" in refused.stderr
    # Refused before anything was built or started.
    assert "build-images" not in refused.stdout + refused.stderr


def test_without_an_account_every_path_answers_401(stack: ComposeStack) -> None:
    for path in SIGNED_IN_PATHS:
        status, headers, _ = stack.http(path)
        assert status == 401, path
        assert headers.get("WWW-Authenticate", "").startswith("Basic "), path
    status, _, body = stack.http("/graphql", headers=JSON, data=VERSION)
    assert status == 401
    assert b"version" not in body
    # The GraphQL subscriptions' websocket too (not 403: the sign-in comes first).
    assert stack.upgrade_status("/graphql").split()[1] == "401"


def test_a_wrong_password_or_an_unknown_account_answers_401(stack: ComposeStack) -> None:
    (viewer, viewer_pw), (operator, operator_pw) = (
        stack.accounts["viewer"],
        stack.accounts["operator"],
    )
    for name, password in [
        (operator, viewer_pw),
        (viewer, secrets.token_urlsafe(24)),
        (f"nobody-{secrets.token_hex(3)}", operator_pw),
        (operator, ""),
    ]:
        credentials = basic_auth(name, password)
        status, _, body = stack.http("/graphql", headers={**credentials, **JSON}, data=VERSION)
        assert status == 401, name
        assert b"version" not in body
        assert stack.upgrade_status("/graphql", credentials).split()[1] == "401", name
    # The right ones pass, the subscriptions' upgrade included.
    for role in ROLES:
        status, _, body = stack.http(
            "/graphql", headers={**stack.credentials(role), **JSON}, data=VERSION
        )
        assert status == 200, role
        assert json.loads(body)["data"]["version"]
        assert stack.upgrade_status("/graphql", stack.credentials(role)).split()[1] == "101", role


PERMISSIONS = "{ permissions { permission value } }"


def _permissions(stack: ComposeStack, role: str) -> dict[str, bool]:
    rows = stack.graphql(PERMISSIONS, role=role)["permissions"]
    return {row["permission"]: row["value"] for row in rows}


def test_each_role_reaches_its_own_webserver(stack: ComposeStack) -> None:
    viewer, operator = _permissions(stack, "viewer"), _permissions(stack, "operator")
    # The read-only webserver grants nothing; the full one what an operator does.
    assert viewer
    assert not any(viewer.values()), viewer
    for permission in (
        "launch_pipeline_execution",
        "wipe_assets",
        "edit_sensor",
        "reload_repository_location",
    ):
        assert operator[permission], permission
    # Both serve the same locations.
    loaded = dict.fromkeys(LOCATIONS, "LOADED")
    assert stack.location_statuses("viewer") == stack.location_statuses("operator") == loaded


SALES_SUMMARY = ["analytics", "sales_summary"]


def _latest_materialization(stack: ComposeStack, role: str) -> dict | None:
    nodes = stack.graphql(
        """query($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
             assetMaterializations(limit: 1) { runId timestamp } } }""",
        {"key": {"path": SALES_SUMMARY}},
        role=role,
    )["assetNodes"]
    assert len(nodes) == 1, nodes
    found = nodes[0]["assetMaterializations"]
    return found[0] if found else None


def _run_logs(stack: ComposeStack, role: str, run_id: str) -> list[dict]:
    """A run's events through the GraphQL subscription, over the proxy's websocket."""
    from websockets.sync.client import connect
    from websockets.typing import Subprotocol

    url = f"ws://127.0.0.1:{stack.port}/graphql"
    query = """subscription($runId: ID!) { pipelineRunLogs(runId: $runId) { __typename
                 ... on PipelineRunLogsSubscriptionSuccess { messages { __typename
                 ... on MessageEvent { runId eventType }
                 ... on LogsCapturedEvent { fileKey } } } } }"""
    with connect(
        url,
        additional_headers=stack.credentials(role),
        subprotocols=[Subprotocol("graphql-ws")],
        open_timeout=30,
    ) as socket_:
        socket_.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(socket_.recv(timeout=30))["type"] == "connection_ack"
        socket_.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "start",
                    "payload": {"query": query, "variables": {"runId": run_id}},
                }
            )
        )
        while True:
            message = json.loads(socket_.recv(timeout=60))
            if message["type"] == "data":
                payload = message["payload"]["data"]["pipelineRunLogs"]
                assert payload["__typename"] == "PipelineRunLogsSubscriptionSuccess", payload
                return payload["messages"]
            assert message["type"] == "ka", message


def test_a_viewer_reads_runs_assets_and_run_logs(stack: ComposeStack) -> None:
    runs = stack.runs(role="viewer")
    successes = [r for r in runs if r["status"] == "SUCCESS"]
    assert successes
    operator_ids = {r["runId"] for r in stack.runs()}
    assert {r["runId"] for r in runs} <= operator_ids
    latest = _latest_materialization(stack, "viewer")
    assert latest is not None
    assert latest["runId"] in operator_ids
    run_id = successes[0]["runId"]
    logs = _run_logs(stack, "viewer", run_id)
    assert {m.get("runId") for m in logs} == {run_id}
    assert "RUN_SUCCESS" in {m.get("eventType") for m in logs}
    # The steps' output, written by the run in its location's container, uploaded to the
    # object store and read back by the viewers' webserver: no volume between them.
    captured = [m["fileKey"] for m in logs if m["__typename"] == "LogsCapturedEvent"]
    assert captured
    data = stack.graphql(
        """query($id: ID!, $key: String!) { runOrError(runId: $id) { ... on Run {
             capturedLogs(fileKey: $key) { stdout stderr } } } }""",
        {"id": run_id, "key": captured[0]},
        role="viewer",
    )
    output = data["runOrError"]["capturedLogs"]
    # Dagster's log lines in the step name their run.
    assert run_id in (output["stderr"] or "") + (output["stdout"] or ""), output


def _sensor(stack: ComposeStack, location: str, role: str) -> dict:
    """The location's first running sensor: its id, name and status."""
    data = stack.graphql(
        """query($selector: RepositorySelector!) { sensorsOrError(repositorySelector:
             $selector) { ... on Sensors { results { id name sensorState { status } } } } }""",
        {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__"}},
        role=role,
    )
    running = [
        s for s in data["sensorsOrError"]["results"] if s["sensorState"]["status"] == "RUNNING"
    ]
    assert running, f"no running sensor in {location}"
    return running[0]


def test_a_viewer_cannot_launch_wipe_toggle_or_reload(stack: ComposeStack) -> None:
    mark = {"platform/test": f"viewer-{secrets.token_hex(4)}"}
    refused: dict[str, dict] = {}
    refused["launch"] = stack.launch_result(
        "analytics", "analytics_refresh_job", mark, role="viewer"
    )
    before = _latest_materialization(stack, "operator")
    refused["wipe"] = stack.graphql(
        """mutation($key: AssetKeyInput!) { wipeAssets(assetPartitionRanges: [{assetKey: $key}]) {
             __typename ... on UnauthorizedError { message } } }""",
        {"key": {"path": SALES_SUMMARY}},
        role="viewer",
    )["wipeAssets"]
    sensor = _sensor(stack, "ingestion", "operator")
    refused["stop sensor"] = stack.graphql(
        """mutation($id: String) { stopSensor(id: $id) {
             __typename ... on UnauthorizedError { message } } }""",
        {"id": sensor["id"]},
        role="viewer",
    )["stopSensor"]
    selector = {
        "repositoryLocationName": "ingestion",
        "repositoryName": "__repository__",
        "sensorName": sensor["name"],
    }
    refused["start sensor"] = stack.graphql(
        """mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
             __typename ... on UnauthorizedError { message } } }""",
        {"selector": selector},
        role="viewer",
    )["startSensor"]
    refused["reload"] = stack.graphql(
        """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
             __typename ... on UnauthorizedError { message } } }""",
        {"name": "ingestion"},
        role="viewer",
    )["reloadRepositoryLocation"]
    for action, answer in refused.items():
        assert answer["__typename"] == "UnauthorizedError", (action, answer)
        assert answer["message"], action
    # Nothing changed: no run with the mark, the asset keeps its materialization, the
    # sensor runs on.
    assert not [r for r in stack.runs() if r["tags"].get("platform/test") == mark["platform/test"]]
    assert before is not None
    assert _latest_materialization(stack, "operator") == before
    assert _sensor(stack, "ingestion", "operator")["name"] == sensor["name"]
    assert stack.location_statuses() == dict.fromkeys(LOCATIONS, "LOADED")


def test_an_operator_launches_a_run_that_succeeds(stack: ComposeStack) -> None:
    mark = {"platform/test": f"operator-{secrets.token_hex(4)}"}
    run_id = stack.launch("analytics", "analytics_refresh_job", mark)
    run = eventually(lambda: _verdict(stack, run_id), 600, "the operator's run to finish")
    assert run["status"] == "SUCCESS", run
    assert run["tags"]["platform/test"] == mark["platform/test"]
    # The viewers see it: one instance behind both webservers.
    seen = {r["runId"]: r["status"] for r in stack.runs(role="viewer")}
    assert seen[run_id] == "SUCCESS"
    eventually(lambda: _analytics_settled(stack), 600, "analytics after the operator's run")


def test_an_account_added_while_the_proxy_runs_signs_in_at_once(stack: ComposeStack) -> None:
    before = stack.inspect("proxy")["State"]["StartedAt"]
    name = f"late-{secrets.token_hex(3)}"
    output = stack.add_user(name, "viewer")
    assert "reloaded" in output
    password = stack.passwords[-1]
    stack.accounts["late"] = (name, password)
    assert not any(_permissions(stack, "late").values())
    # The same account made an operator: its role changes with no restart, one entry kept.
    stack.add_user(name, "operator")
    stack.accounts["late"] = (name, stack.passwords[-1])
    assert _permissions(stack, "late")["launch_pipeline_execution"]
    status, _, _ = stack.http(
        "/graphql", headers={**basic_auth(name, password), **JSON}, data=VERSION
    )
    assert status == 401, "the replaced password still signs in"
    assert stack.inspect("proxy")["State"]["StartedAt"] == before
    assert [a.name for a in accounts.accounts(stack.root / accounts.AUTH_DIR)].count(name) == 1


def test_a_viewer_sees_the_asset_graph_in_a_browser(stack: ComposeStack) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    shots = stack.log_dir / "ui"
    shots.mkdir(exist_ok=True)
    name, password = stack.accounts["viewer"]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            # No account: the proxy answers the page 401, and the browser, with nothing to
            # answer the challenge with, shows no UI.
            anonymous = browser.new_context()
            page = anonymous.new_page()
            answers: list[tuple[str, int]] = []
            page.on("response", lambda r: answers.append((r.url, r.status)))
            with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
                page.goto(f"{stack.url}/asset-groups")
            assert answers == [(f"{stack.url}/asset-groups", 401)]
            assert anonymous.request.get(f"{stack.url}/asset-groups").status == 401
            anonymous.close()

            signed_in = browser.new_context(
                http_credentials={"username": name, "password": password},
                viewport={"width": 1600, "height": 1000},
            )
            page = signed_in.new_page()
            page.set_default_timeout(60_000)
            response = page.goto(f"{stack.url}/asset-groups")
            assert response is not None
            assert response.status == 200
            for group in ("ingestion_raw_data", "transformation_sales", "analytics_sales_marts"):
                expect(page.get_by_text(group, exact=True).last).to_be_visible(timeout=90_000)
            page.goto(f"{stack.url}/assets/analytics/sales_summary")
            expect(page.get_by_text("sales_summary", exact=False).first).to_be_visible(
                timeout=90_000
            )
            page.screenshot(path=str(shots / "viewer-sales-summary.png"), full_page=True)
            signed_in.close()
        finally:
            browser.close()


# -- one team's deploy ------------------------------------------------------------------


def _description(stack: ComposeStack, role: str = "operator") -> str | None:
    data = stack.graphql(
        """{ assetNodes(assetKeys: [{path: ["transformation", "enriched_sales"]}]) {
             description } }""",
        role=role,
    )
    nodes = data["assetNodes"]
    return nodes[0]["description"] if nodes else None


def test_one_team_redeploys_alone(stack: ComposeStack) -> None:
    module = stack.root / "locations/transformation/src/transformation/defs/sales/assets.py"
    source = module.read_text()
    old = _description(stack)
    assert old
    assert old != NEW_DESCRIPTION
    images = {name: _layers(stack, name) for name in ("host", "proxy", *LOCATIONS)}
    # Unique per run: an edit the build cache has seen before would not be a rebuild.
    description = f"{NEW_DESCRIPTION} ({stack.project})"
    module.write_text(_with_description(source, description))
    # The image first, so the run below is in flight while the container is replaced.
    built = time.monotonic()
    stack.run(["sh", "deploy/docker/build-images.sh", "transformation"], timeout=900)
    record("code_change_rebuild_transformation_s", time.monotonic() - built)
    # Layer caching: the other images are untouched, and of this one only the layers above
    # the dependencies (the platform's code, the instance file) are new.
    for name, layers in images.items():
        if name != "transformation":
            assert _layers(stack, name) == layers, f"{name} was rebuilt"
    # Layers: the base, the account, the dependencies, the code, then those the recipe
    # adds above the code (the instance file, ...), counted from the recipe.
    old_layers, rebuilt = images["transformation"], _layers(stack, "transformation")
    assert len(rebuilt) == len(old_layers)
    code = len(rebuilt) - _layers_above_the_code() - 1
    assert rebuilt[:code] == old_layers[:code], "the base, account or dependency layer was rebuilt"
    assert rebuilt[code] != old_layers[code], "the code layer holds the old code"
    sizes = _layer_sizes(stack, "transformation")
    record("code_layer_mb", sizes["code"] / 1e6)
    record("dependency_layer_mb", sizes["dependencies"] / 1e6)
    assert sizes["code"] * 100 < sizes["dependencies"], sizes
    before = _started_at(stack)

    run_id = stack.launch("transformation", "sales_models_job", {PARTITION: FIRST.date})
    eventually(
        lambda: (stack.run_by_id(run_id) or {}).get("status") in {"STARTED", *FINISHED},
        120,
        "the in-flight run to start",
        interval=0.5,
    )
    started = time.monotonic()
    stack.make("deploy", "LOCATION=transformation", timeout=900)
    record("make_deploy_s", time.monotonic() - started)

    after = _started_at(stack)
    assert after["transformation"][0] != before["transformation"][0], "recreated"
    for service in SERVICES:
        if service != "transformation":
            assert after[service] == before[service], f"{service} was touched by the deploy"
    # The webserver (and through the reload, the daemon) serve the new code, no restart;
    # the viewers' webserver sees the new server by itself.
    eventually(lambda: _description(stack) == description, 120, "the new description")
    record("deploy_to_new_definitions_s", time.monotonic() - started)
    eventually(
        lambda: _description(stack, "viewer") == description, 120, "the viewers' new description"
    )
    outcome = _await_success_or_retried(stack, run_id, 300)
    (stack.log_dir / "deploy-in-flight-run.txt").write_text(outcome + "\n")

    _deliver_day(stack, AFTER_DEPLOY)
    delivered = time.monotonic()
    eventually(
        lambda: _analytics_settled(stack), 600, "the next day through the redeployed location"
    )
    record("deploy_file_to_analytics_s", time.monotonic() - delivered)
    runs = [
        r
        for r in stack.runs()
        if r["location"] == "transformation" and AFTER_DEPLOY.date in str(r["tags"])
    ]
    assert runs
    assert all(r["status"] == "SUCCESS" for r in runs), runs


def _layers_above_the_code() -> int:
    """Layers the location recipe's runtime stage makes after its code layer."""
    final = parse_dockerfile(LOCATION_DOCKERFILE, {"LOCATION": LOCATIONS[0]})[-1]
    making = [i for i in final.instructions if i.keyword in {"ADD", "COPY", "RUN", "WORKDIR"}]
    (code,) = [n for n, i in enumerate(making) if "/opt/dagster/code/" in i.args]
    return len(making) - code - 1


def _layers(stack: ComposeStack, name: str) -> list[str]:
    image = f"data-platform/{name}:compose-test"
    out = stack.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)
    return json.loads(out.stdout)


def _layer_sizes(stack: ComposeStack, name: str) -> dict[str, int]:
    """Bytes of the image's dependency and code layers, by the COPY that made each."""
    image = f"data-platform/{name}:compose-test"
    out = stack.docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image
    )
    sizes: dict[str, int] = {}
    for line in out.stdout.splitlines():
        size, created_by = line.split("\t", 1)
        if created_by.startswith("COPY /opt/dagster/venv /opt/dagster/venv"):
            sizes["dependencies"] = int(size)
        elif created_by.startswith("COPY /opt/dagster/code/ /opt/dagster/venv/"):
            sizes["code"] = int(size)
    assert set(sizes) == {"dependencies", "code"}, out.stdout
    return sizes


def _with_description(source: str, description: str) -> str:
    """The module with enriched_sales's docstring (its description in the UI) replaced."""
    changed, count = re.subn(
        r'(def enriched_sales\(.*?\) -> dg\.MaterializeResult:\n\s+)"""[^"]*"""',
        lambda m: m.group(1) + f'"""{description}"""',
        source,
        count=1,
        flags=re.S,
    )
    assert count == 1, "no enriched_sales docstring in defs/sales/assets.py"
    return changed


# -- faults in containers ---------------------------------------------------------------


def _big_sales_csv(date: str, rows: int, first_id: int) -> tuple[str, tuple[int, Decimal], dict]:
    """A large valid sales file: its text, (rows, revenue) and region to (units, revenue)."""
    lines = ["sale_id,order_id,customer_id,product_id,quantity,unit_price,sale_ts"]
    units: dict[str | None, int] = {}
    for i in range(rows):
        quantity, customer = 1 + i % 4, 1 + (i // 3) % 4
        units[REGION_OF.get(customer)] = units.get(REGION_OF.get(customer), 0) + quantity
        lines.append(
            f"{first_id + i},{first_id + i // 3},{customer},3,{quantity},1.50,{date} 12:00:00"
        )
    regional = {region: (u, u * Decimal("1.50")) for region, u in units.items()}
    revenue = sum(units.values()) * Decimal("1.50")
    return "\n".join(lines) + "\n", (rows, revenue), regional


def _sales_run(stack: ComposeStack, date: str, exclude: set[str]) -> dict | None:
    return next(
        (
            r
            for r in stack.runs()
            if r["location"] == "ingestion"
            and r["runId"] not in exclude
            and date
            in (
                r["tags"].get(PARTITION, "")
                + r["tags"].get("dagster/asset_partition_range_start", "")
            )
        ),
        None,
    )


def _loading(stack: ComposeStack, run_id: str) -> bool:
    """The run is inside its ``sales`` step: the step started (it holds the warehouse
    slot) and has no verdict yet."""
    data = stack.graphql(
        """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
             status stepStats { stepKey status } } } }""",
        {"id": run_id},
    )
    run = data["runOrError"]
    assert run["status"] not in FINISHED, f"the run ended before the crash: {run}"
    return any(
        step["stepKey"].endswith("sales") and step["status"] == "IN_PROGRESS"
        for step in run.get("stepStats") or []
    )


def _big_load_in_flight(
    stack: ComposeStack, date: str, rows: int, first_id: int
) -> tuple[dict, tuple[int, Decimal], tuple[int, Decimal]]:
    """Deliver a large sales file for ``date`` and return once its run is a second into
    the load: the run, and the day's (rows, revenue) before and after it."""
    old = stack.sales_stats(date) or (0, Decimal(0))
    text, new, regional = _big_sales_csv(date, rows, first_id)
    seen = {r["runId"] for r in stack.runs()}
    stack.deliver(f"sales/{date}.csv", text)
    # Counted from now on: the file is landed and ends up loaded whatever the test sees.
    CONTRIBUTIONS[f"sales/{date}.csv"] = regional
    run = eventually(lambda: _sales_run(stack, date, seen), 180, "the big file's run")
    eventually(lambda: _loading(stack, run["runId"]), 300, "its sales step", interval=0.2)
    time.sleep(1.0)  # inside the load
    assert _loading(stack, run["runId"]), "the load finished before the fault"
    return run, old, new


def _assert_old_or_new(
    stack: ComposeStack, date: str, old: tuple[int, Decimal], new: tuple[int, Decimal]
) -> None:
    """The day holds its rows from before the fault or the whole new file, never part."""
    stats = stack.sales_stats(date)
    assert stats in (old, new), f"{date} holds {stats}: neither old {old} nor new {new}"


def test_code_server_crash_mid_run_is_failed_and_retried(stack: ComposeStack) -> None:
    run, old, new = _big_load_in_flight(stack, CRASH_DATE, CRASH_ROWS, 5_000_000)

    # The container's process dies (a crash, the kernel's OOM killer): its init is killed.
    # `docker kill` is not used: Docker counts it as a manual stop and never restarts it.
    info = stack.inspect("ingestion")
    restarts = info["RestartCount"]
    os.kill(info["State"]["Pid"], signal.SIGKILL)
    crashed = time.monotonic()
    eventually(
        lambda: (
            stack.inspect("ingestion")["RestartCount"] > restarts
            and stack.health()["ingestion"] == "healthy"
        ),
        180,
        "the restart policy to bring ingestion back healthy",
    )
    record("code_server_crash_to_healthy_s", time.monotonic() - crashed)
    _assert_old_or_new(stack, CRASH_DATE, old, new)

    failed = eventually(lambda: _verdict(stack, run["runId"]), 300, "the orphaned run's verdict")
    record("code_server_crash_to_orphan_failed_s", time.monotonic() - crashed)
    assert failed["status"] == "FAILURE", failed
    retry = eventually(lambda: _retry_of(stack, run["runId"]), 300, "the retry of the orphan")
    done = eventually(lambda: _verdict(stack, retry["runId"]), 600, "the retry's verdict")
    record("code_server_crash_to_retry_success_s", time.monotonic() - crashed)
    assert done["status"] == "SUCCESS", done
    eventually(lambda: stack.sales_stats(CRASH_DATE) == new, 60, "the complete new data")
    eventually(lambda: _analytics_settled(stack), 600, "the crash day through to analytics")


def _retried_within(stack: ComposeStack, run_id: str) -> list[str]:
    """The run's messages saying a write or a step was tried again."""
    data = stack.graphql(
        """query($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection {
             events { __typename ... on MessageEvent { message eventType } } } } }""",
        {"id": run_id},
    )
    events = data["logsForRun"]["events"]
    return [
        e["message"]
        for e in events
        if e.get("eventType") == "STEP_UP_FOR_RETRY" or "trying again" in (e.get("message") or "")
    ]


def test_object_store_restart_mid_load_is_retried(stack: ComposeStack) -> None:
    """The object store's container restarts while a large file loads: the write finds no
    store, is tried again once the store is back, and the day holds its old rows or the
    whole new file, never part of it; the run succeeds with no manual step."""
    run, old, new = _big_load_in_flight(stack, STORE_RESTART_DATE, STORE_RESTART_ROWS, 9_000_000)

    stack.compose("restart", "objects", timeout=120)
    restarted = time.monotonic()
    eventually(lambda: stack.health()["objects"] == "healthy", 120, "the object store healthy")
    record("object_store_restart_to_healthy_s", time.monotonic() - restarted)
    _assert_old_or_new(stack, STORE_RESTART_DATE, old, new)

    done = eventually(lambda: _verdict(stack, run["runId"]), 600, "the run's verdict")
    record("object_store_restart_to_run_success_s", time.monotonic() - restarted)
    assert done["status"] == "SUCCESS", done
    retried = _retried_within(stack, run["runId"])
    assert retried, "the run never had to try again: the restart missed the load"
    (stack.log_dir / "object-store-restart-retries.txt").write_text("\n".join(retried))
    assert stack.sales_stats(STORE_RESTART_DATE) == new
    eventually(lambda: _analytics_settled(stack), 600, "the day through to analytics")


def test_postgres_container_restart_recovers_without_a_step(stack: ComposeStack) -> None:
    stack.compose("restart", "postgres", timeout=300)
    back = time.monotonic()
    eventually(lambda: stack.health()["postgres"] == "healthy", 120, "postgres healthy")
    eventually(lambda: stack.answers() and stack.daemons_healthy(), 180, "the daemon's heartbeats")
    record("postgres_restart_to_daemon_healthy_s", time.monotonic() - back)
    _deliver_day(stack, AFTER_POSTGRES)
    eventually(lambda: _analytics_settled(stack), 600, "a file after the restart in analytics")
    record("postgres_restart_to_file_in_analytics_s", time.monotonic() - back)
    assert set(stack.health().values()) == {"healthy"}


def test_no_password_in_the_files_the_logs_or_the_output(stack: ComposeStack) -> None:
    """The accounts file holds bcrypt hashes only; no password is anywhere else either."""
    auth_dir = stack.root / accounts.AUTH_DIR
    users = dict(
        line.split(":", 1) for line in (auth_dir / accounts.USERS_FILE).read_text().splitlines()
    )
    assert set(users) == {name for name, _ in stack.accounts.values()}
    for name, password in stack.accounts.values():
        assert re.fullmatch(r"\$2b\$\d\d\$[./A-Za-z0-9]{53}", users[name]), name
        assert bcrypt.checkpw(password.encode(), users[name].encode())
    logs = stack.compose("logs", "--no-color", timeout=120)
    # Every make verb and command the tests ran, with its output.
    commands = (stack.log_dir / "commands.log").read_text()
    files = "".join(p.read_text() for p in auth_dir.iterdir() if p.is_file())
    places = {
        "accounts files": files,
        "container logs": logs.stdout + logs.stderr,
        "make and command output": commands,
        "add-user output": "".join(stack.add_user_output),
    }
    assert len(stack.passwords) >= 2 + 2
    # The accounts' passwords, and every password and key of the stack's .env.
    assert len(stack.secrets) == 5
    for password in [*stack.passwords, *stack.secrets]:
        for place, text in places.items():
            assert password not in text, f"a password appears in the {place}"
    # The proxy logged the signed-in accounts' names, not their passwords.
    assert stack.accounts["viewer"][0] in logs.stdout + logs.stderr


def _unscheduled_runs(stack: ComposeStack) -> dict[str, str]:
    """Run id to status, but for the cron schedules' runs (one may fall due any minute)."""
    return {r["runId"]: r["status"] for r in stack.runs() if SCHEDULE not in r["tags"]}


# Longer than the slowest sensor's minimum interval (order_history_sensor: 60 s).
QUIET_SECONDS = 75


def _quiet(stack: ComposeStack) -> tuple[dict[str, str], dict[str, str | None]] | None:
    """Runs and sensor cursors once the sensors have acted on everything landed so far:
    nothing in progress, and neither changed over a window longer than any sensor's
    interval. A run started after `down`/`up` is then the stack's doing, not a late tick
    on data from before."""
    try:
        before = (_unscheduled_runs(stack), stack.sensor_cursors())
        time.sleep(QUIET_SECONDS)
        after = (_unscheduled_runs(stack), stack.sensor_cursors())
    except RuntimeError:
        # After the PostgreSQL restart, the webserver's first query on a connection kept
        # from before it can fail once (a PythonError answer): not settled yet, ask again.
        return None
    return after if after == before and not _in_progress(stack) else None


def test_down_and_up_keep_history_cursors_and_warehouse(stack: ComposeStack) -> None:
    runs, cursors = eventually(lambda: _quiet(stack), 900, "the sensors to settle", interval=0)
    summary = stack.sales_summary()
    counts = stack.query(
        "SELECT sale_date, count(*) FROM ingestion.sales GROUP BY ALL ORDER BY ALL"
    )
    assert runs
    assert summary == _expected_summary()

    stack.make("down", timeout=600)
    assert stack.compose("ps", "-q").stdout.strip() == ""
    started = time.monotonic()
    stack.make("up", timeout=900)
    eventually(lambda: set(stack.health().values()) == {"healthy"}, 300, "every service healthy")
    eventually(
        lambda: stack.answers() and stack.location_statuses() == dict.fromkeys(LOCATIONS, "LOADED"),
        120,
        "the locations loaded again",
    )
    record("down_up_to_healthy_s", time.monotonic() - started)
    # Long enough for every sensor to tick on the files already there.
    time.sleep(QUIET_SECONDS)
    after = _unscheduled_runs(stack)
    assert after == runs, f"runs after down/up: {set(after) - set(runs)} new"
    assert stack.sensor_cursors() == cursors
    assert stack.sales_summary() == summary
    assert (
        stack.query("SELECT sale_date, count(*) FROM ingestion.sales GROUP BY ALL ORDER BY ALL")
        == counts
    )
