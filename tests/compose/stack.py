"""The compose stack as the tests drive it: `make` verbs, compose, docker and GraphQL.

The stack runs from a copy of the checkout (the deploy test edits a location's code there)
under a project name of its own, with a `.env` made for the test: a generated password,
a free loopback port for the UI, the offline base images and the machine's CA bundle as
the build secret. Data goes in and out through the containers (`docker exec` as the
platform's uid): files into the landing bucket of the objects service, which only the
compose network reaches, and queries on the lake as the readers do. The UI and GraphQL are
reached as users do, through the sign-in proxy, with accounts made by the real
`platform-stack add-user` and passwords generated here.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sysconfig
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from platform_stack.topology import location_statuses, post_graphql

PLATFORM_UID = "10001"
# The sign-in proxy's own uid (deploy/docker/proxy/Dockerfile).
PROXY_UID = "10003"
# The object store's (deploy/docker/objects/Dockerfile).
OBJECTS_UID = "10004"
SERVICES = (
    "postgres",
    "objects",
    "ingestion",
    "transformation",
    "analytics",
    "webserver",
    "webserver-read-only",
    "daemon",
    "proxy",
)
ROLES = ("viewer", "operator")
LOCATIONS = ("ingestion", "transformation", "analytics")
OFFLINE_BASE = "data-platform/base:bookworm"
OFFLINE_POSTGRES = "data-platform/postgres:15"
REPOSITORY = "__repository__"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def compose_command() -> list[str]:
    """`docker compose` (v2) where the plugin answers, else Compose 1.29."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("no Docker Compose on this machine (deploy/ci/docker-deps.sh installs it)")


@dataclass(frozen=True)
class Reader:
    """A reader container started by :meth:`ComposeStack.start_reader`."""

    container: str
    process: subprocess.Popen[str]


class ComposeStack:
    """One compose project: its checkout copy, its `.env` and helpers to look inside."""

    # A line planted in the CA bundle given to the build (None: no bundle on this machine).
    ca_marker: str | None = None
    # When `make up` returned (monotonic clock).
    up_at: float = 0.0

    def __init__(self, root: Path, *, port: int, ca_bundle: Path | None, log_dir: Path) -> None:
        self.root = root
        self.port = port
        self.log_dir = log_dir
        self.project = f"platform-compose-test-{secrets.token_hex(3)}"
        self.password = secrets.token_urlsafe(24)
        self.compose_cmd = compose_command()
        self.env_file = {
            "COMPOSE_PROJECT_NAME": self.project,
            "DAGSTER_POSTGRES_USER": "dagster",
            "DAGSTER_POSTGRES_DB": "dagster",
            "DAGSTER_POSTGRES_PASSWORD": self.password,
            "WAREHOUSE_CATALOG_PASSWORD": secrets.token_urlsafe(24),
            "WAREHOUSE_READER_PASSWORD": secrets.token_urlsafe(24),
            "OBJECT_STORE_KEY_ID": f"platform-{secrets.token_hex(3)}",
            "OBJECT_STORE_SECRET": secrets.token_urlsafe(24),
            "OBJECT_STORE_READER_KEY_ID": f"reader-{secrets.token_hex(3)}",
            "OBJECT_STORE_READER_SECRET": secrets.token_urlsafe(24),
            "DAGSTER_WEBSERVER_BIND": "127.0.0.1",
            "DAGSTER_WEBSERVER_PORT": str(port),
            "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{port}",
            "IMAGE_TAG": "compose-test",
            "BASE_IMAGE": OFFLINE_BASE,
            "POSTGRES_IMAGE": OFFLINE_POSTGRES,
        }
        if ca_bundle is not None:
            self.env_file["CA_BUNDLE"] = str(ca_bundle)
        (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in self.env_file.items()))
        # Role to (name, password) of the accounts add_user made; every password it was given.
        self.accounts: dict[str, tuple[str, str]] = {}
        self.passwords: list[str] = []
        # What add-user printed, and what `make up` answered before any account existed.
        self.add_user_output: list[str] = []
        self.refused_up: subprocess.CompletedProcess[str] | None = None

    # -- commands ------------------------------------------------------------------------

    def run(
        self, argv: Sequence[str], *, timeout: float = 900, check: bool = True, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **kw.pop("env", {})}
        # The stack's settings come from its .env, not from whatever the caller exported.
        for name in self.env_file:
            env.pop(name, None)
        proc = subprocess.run(
            list(argv),
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )
        # The verbs and every failure; not the polls that succeed (inspect, ps, exec, top).
        polling = any(word in argv[1:3] for word in ("inspect", "ps", "exec", "top"))
        if not polling or proc.returncode != 0:
            with (self.log_dir / "commands.log").open("a") as log:
                log.write(f"$ {shlex.join(argv)}  (exit {proc.returncode})\n")
                log.write(f"{proc.stdout}{proc.stderr}\n")
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                f"{proc.stderr[-3000:]}"
            )
        return proc

    def make(self, *args: str, timeout: float = 1800, check: bool = True, **kw: Any):
        return self.run(["make", "--no-print-directory", *args], timeout=timeout, check=check, **kw)

    def add_user(self, name: str, role: str, password: str | None = None) -> str:
        """`platform-stack add-user` on the checkout, the password on stdin; its output."""
        password = password or secrets.token_urlsafe(24)
        self.passwords.append(password)
        script = Path(sysconfig.get_path("scripts")) / "platform-stack"
        argv = [str(script), "--root", str(self.root), "add-user", name, "--role", role]
        proc = self.run(argv, input=password + "\n", timeout=120)
        self.add_user_output.append(proc.stdout + proc.stderr)
        return proc.stdout

    def compose(self, *args: str, timeout: float = 600, check: bool = True):
        return self.run([*self.compose_cmd, *args], timeout=timeout, check=check)

    def docker(self, *args: str, timeout: float = 300, check: bool = True, **kw: Any):
        return self.run(["docker", *args], timeout=timeout, check=check, **kw)

    # -- containers ----------------------------------------------------------------------

    def container(self, service: str) -> str:
        cid = self.compose("ps", "-q", service).stdout.strip()
        assert cid, f"no container for {service}"
        return cid

    def inspect(self, service: str) -> dict[str, Any]:
        return json.loads(self.docker("inspect", self.container(service)).stdout)[0]

    def health(self) -> dict[str, str]:
        """Service to its health status (or its state where it has no healthcheck)."""
        statuses = {}
        for service in SERVICES:
            state = self.inspect(service)["State"]
            statuses[service] = state.get("Health", {}).get("Status", state["Status"])
        return statuses

    def exec(
        self,
        service: str,
        *argv: str,
        stdin: str | None = None,
        check: bool = True,
        reader: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` in the service's container as the platform's uid; with ``reader``, with
        the object store's readers' key (read and list only) instead of the platform's."""
        options = self.reader_options() if reader else []
        return self.docker(
            "exec", "-i", *options, "-u", PLATFORM_UID, self.container(service), *argv,
            input=stdin, check=check, env=self.reader_environ() if reader else {},
        )  # fmt: skip

    @property
    def secrets(self) -> list[str]:
        """Every password and secret key of the stack's .env."""
        return [v for k, v in self.env_file.items() if k.endswith(("PASSWORD", "SECRET"))]

    def deliver(self, relative: str, text: str) -> None:
        """Put a file into the landing bucket, as a team's upload does (boto3, in a container
        on the compose network: the store is published nowhere)."""
        script = (
            "import sys\n"
            "from platform_shared.settings import current\n"
            "from platform_shared.storage import store\n"
            "store(current('LANDING_URL')).put_bytes(sys.argv[1], sys.stdin.buffer.read())\n"
        )
        self.exec("ingestion", "python", "-c", script, relative, stdin=text)

    def landing_files(self) -> dict[str, str]:
        """Name to text of every file in the landing bucket, read with the readers' key."""
        script = (
            "import json\n"
            "from platform_shared.settings import current\n"
            "from platform_shared.storage import store\n"
            "landing = store(current('LANDING_URL'))\n"
            "found, folders = {}, ['']\n"
            "while folders:\n"
            "    for f in landing.list(folders.pop()):\n"
            "        if not f.is_file:\n"
            "            folders.append(f.name)\n"
            "            continue\n"
            "        with landing.open(f.name) as stream:\n"
            "            found[f.name] = stream.read().decode()\n"
            "print(json.dumps(found))\n"
        )
        proc = self.exec("ingestion", "python", "-c", script, reader=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def reader_options(self) -> list[str]:
        """`docker exec`/`run` options giving a process the readers' key (read, list)."""
        return [
            "-e",
            f"AWS_ACCESS_KEY_ID={self.env_file['OBJECT_STORE_READER_KEY_ID']}",
            "-e",
            "AWS_SECRET_ACCESS_KEY",
        ]

    def reader_environ(self) -> dict[str, str]:
        """The secret `reader_options` passes by name: it never appears in a command line."""
        return {"AWS_SECRET_ACCESS_KEY": self.env_file["OBJECT_STORE_READER_SECRET"]}

    def query(self, sql: str, params: Sequence[object] = ()) -> list[list[Any]] | None:
        """Rows of a read-only query on the warehouse, or None before the table exists."""
        script = (
            "import json, os, sys\n"
            "from platform_shared.resources import WarehouseResource\n"
            "sql, params, password = json.loads(sys.stdin.read())\n"
            # The lake as a notebook reads it: read-only, as the role that may only read,
            # with the object store's readers' key.
            "os.environ['WAREHOUSE_CATALOG_PASSWORD'] = password\n"
            "catalog = 'postgres:dbname=warehouse host=postgres port=5432 user=warehouse_reader'\n"
            "reader = WarehouseResource(catalog=catalog, read_only=True)\n"
            "with reader.get_connection() as conn:\n"
            "    rows = conn.execute(sql, params).fetchall()\n"
            "print(json.dumps({'rows': rows}, default=str))\n"
        )
        proc = self.exec(
            "analytics",
            "python",
            "-c",
            script,
            stdin=json.dumps([sql, list(params), self.env_file["WAREHOUSE_READER_PASSWORD"]]),
            check=False,
            reader=True,
        )
        if proc.returncode != 0:
            not_yet = ("does not exist", "Catalog Error", "Unable to open database")
            if any(text in proc.stderr for text in not_yet):
                return None
            raise AssertionError(f"warehouse query failed: {proc.stderr[-2000:]}")
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        return answer.get("rows")

    def start_reader(self, sql: str, *, interval: float) -> Reader:
        """A container of its own (the analytics image, on the compose network, no volume)
        that asks the lake ``sql`` every ``interval`` seconds as a notebook would: read-only,
        as the catalog's reader role, with the object store's readers' key. One JSON line per
        answer (``rows`` or ``error``) on its stdout, until :meth:`stop_reader`."""
        script = (
            "import json, os, sys, time\n"
            "from platform_shared.resources import WarehouseResource\n"
            "sql, interval = json.loads(sys.stdin.readline())\n"
            "os.environ['WAREHOUSE_CATALOG_PASSWORD'] = sys.stdin.readline().strip()\n"
            "catalog = 'postgres:dbname=warehouse host=postgres port=5432 user=warehouse_reader'\n"
            "reader = WarehouseResource(catalog=catalog, read_only=True)\n"
            "while True:\n"
            "    try:\n"
            "        with reader.get_connection() as conn:\n"
            "            answer = {'rows': conn.execute(sql).fetchall()}\n"
            "    except Exception as exc:\n"
            "        answer = {'error': str(exc)}\n"
            "    print(json.dumps(answer, default=str), flush=True)\n"
            "    time.sleep(interval)\n"
        )
        name = f"{self.project}-reader-{secrets.token_hex(3)}"
        argv = [
            "docker", "run", "--rm", "-i", "--name", name,
            "--network", f"{self.project}_default", "-u", PLATFORM_UID,
            "-e", "AWS_ENDPOINT_URL=http://objects:8333", "-e", "AWS_REGION=us-east-1",
            "-e", "WAREHOUSE_DATA_PATH=s3://platform/lake/", *self.reader_options(),
            f"data-platform/analytics:{self.env_file['IMAGE_TAG']}", "python", "-c", script,
        ]  # fmt: skip
        env = {**os.environ, **self.reader_environ()}
        reader = subprocess.Popen(
            argv,
            cwd=self.root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert reader.stdin is not None
        reader.stdin.write(json.dumps([sql, interval]) + "\n")
        reader.stdin.write(self.env_file["WAREHOUSE_READER_PASSWORD"] + "\n")
        reader.stdin.flush()
        return Reader(name, reader)

    def stop_reader(self, reader: Reader) -> list[dict[str, Any]]:
        """Remove the reader's container; its answers, in order."""
        self.docker("rm", "-f", reader.container, check=False)
        out, _ = reader.process.communicate(timeout=60)
        (self.log_dir / "reader.log").write_text(out)
        answers = []
        for line in out.splitlines():
            if line.startswith("{"):
                answers.append(json.loads(line))
        return answers

    def sales_summary(self) -> dict[str, tuple[int, Decimal]] | None:
        rows = self.query("SELECT region, units, revenue FROM analytics.sales_summary")
        return None if rows is None else {r[0]: (int(r[1]), Decimal(r[2])) for r in rows}

    def sales_stats(self, date: str) -> tuple[int, Decimal] | None:
        rows = self.query(
            "SELECT count(*), coalesce(sum(quantity * unit_price), 0) FROM ingestion.sales "
            "WHERE sale_date = ?::DATE",
            [date],
        )
        return None if rows is None else (int(rows[0][0]), Decimal(rows[0][1]))

    # -- the webservers, through the sign-in proxy ------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials(self, role: str) -> dict[str, str]:
        """The ``Authorization`` header of the account of ``role``."""
        return basic_auth(*self.accounts[role])

    def graphql(
        self, query: str, variables: Mapping[str, object] | None = None, *, role: str = "operator"
    ) -> dict:
        """GraphQL through the proxy, signed in as the account of ``role``."""
        return post_graphql(self.url, query, variables, headers=self.credentials(role))

    def http(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One request to the published port: status, headers and body, errors included."""
        request = urllib.request.Request(  # noqa: S310 (the test's own loopback URL)
            f"{self.url}{path}", data=data, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def upgrade_status(self, path: str, headers: Mapping[str, str] | None = None) -> str:
        """The status line the proxy answers a websocket upgrade (GraphQL subscriptions)."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: graphql-ws",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            answer = b""
            while b"\r\n" not in answer:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0].decode()

    def answers(self) -> bool:
        try:
            self.graphql("{ version }")
        except (OSError, RuntimeError, urllib.error.URLError):
            return False
        return True

    def location_statuses(self, role: str = "operator") -> dict[str, str]:
        return location_statuses(self.url, headers=self.credentials(role))

    def runs(self, limit: int = 1000, role: str = "operator") -> list[dict[str, Any]]:
        data = self.graphql(
            """query($limit: Int) { runsOrError(limit: $limit) { __typename ... on Runs {
                 results { runId jobName status repositoryOrigin { repositoryLocationName }
                           tags { key value } } } } }""",
            {"limit": limit},
            role=role,
        )
        runs = data["runsOrError"]["results"]
        for run in runs:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
            run["location"] = (run.pop("repositoryOrigin") or {}).get("repositoryLocationName")
        return runs

    def run_by_id(self, run_id: str) -> dict[str, Any] | None:
        return next((r for r in self.runs() if r["runId"] == run_id), None)

    def sensor_cursors(self) -> dict[str, str | None]:
        cursors: dict[str, str | None] = {}
        for location in LOCATIONS:
            data = self.graphql(
                """query($selector: RepositorySelector!) { sensorsOrError(repositorySelector:
                     $selector) { __typename ... on Sensors { results { name sensorState {
                     typeSpecificData { ... on SensorData { lastCursor } } } } }
                     ... on PythonError { message } } }""",
                {
                    "selector": {
                        "repositoryLocationName": location,
                        "repositoryName": "__repository__",
                    }
                },
            )
            answer = data["sensorsOrError"]
            if answer["__typename"] != "Sensors":
                raise RuntimeError(f"the sensors of {location}: {answer}")
            for sensor in answer["results"]:
                specific = sensor["sensorState"]["typeSpecificData"] or {}
                cursors[f"{location}/{sensor['name']}"] = specific.get("lastCursor")
        return cursors

    def daemons_healthy(self) -> bool:
        try:
            data = self.graphql(
                """{ instance { daemonHealth { allDaemonStatuses {
                     daemonType healthy required } } } }"""
            )
        except (OSError, RuntimeError, urllib.error.URLError):
            return False
        statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        return all(s["healthy"] for s in statuses if s["required"])

    def launch(
        self, location: str, job: str, tags: Mapping[str, str], role: str = "operator"
    ) -> str:
        result = self.launch_result(location, job, tags, role)
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def launch_result(
        self, location: str, job: str, tags: Mapping[str, str], role: str = "operator"
    ) -> dict[str, Any]:
        """What ``launchRun`` answered the account of ``role``."""
        data = self.graphql(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                 __typename ... on LaunchRunSuccess { run { runId } }
                 ... on UnauthorizedError { message }
                 ... on PythonError { message } ... on RunConfigValidationInvalid {
                 errors { message } } } }""",
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": location,
                        "repositoryName": "__repository__",
                        "jobName": job,
                    },
                    "executionMetadata": {
                        "tags": [{"key": k, "value": v} for k, v in tags.items()]
                    },
                }
            },
            role=role,
        )
        return data["launchRun"]

    # -- teardown ------------------------------------------------------------------------

    def save_logs(self) -> None:
        proc = self.compose("logs", "--no-color", "--timestamps", check=False, timeout=120)
        (self.log_dir / "compose.log").write_text(proc.stdout + proc.stderr)
        # Each container's state, its healthchecks' last answers included.
        states = {}
        for service in SERVICES:
            cid = self.compose("ps", "-q", service, check=False).stdout.strip()
            if cid:
                found = self.docker("inspect", cid, check=False).stdout
                states[service] = json.loads(found)[0]["State"] if found.strip() else None
        (self.log_dir / "states.json").write_text(json.dumps(states, indent=2))

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", check=False, timeout=300)


def basic_auth(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
