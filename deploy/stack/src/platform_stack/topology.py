"""Start and stop the platform's processes on one machine.

The same topology as the compose file: one ``dagster api grpc`` server per location, each
from that location's own environment, plus the webserver and the daemon from the host
environment, all sharing one instance home. The local stack (``platform-stack dev``) and
the system-test fixtures both drive this class, so there is one definition of "start the
platform" to keep working.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from platform_instance.storage import EVENT_BATCH_SIZE
from platform_shared.settings import with_defaults
from platform_stack.instance import initialize_storage, prepare_home
from platform_stack.workspace import Location, read_locations

HOST = "127.0.0.1"
GRPC_HEALTH_SERVICE = "DagsterApi"


class StartupError(RuntimeError):
    """A process did not become ready; the message includes the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def restore_interrupts() -> None:
    """Let the processes started from here stop gracefully on SIGTERM.

    A shell starts a background job (``nohup make dev &``, a CI step) with SIGINT ignored,
    and children inherit an ignored signal. Dagster's processes handle SIGTERM the way
    they handle SIGINT, so they would ignore SIGTERM too: a restart or a stop would then
    wait for the SIGKILL deadline. Only the main thread may change a handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        restore_interrupts()
        log = self.log_path.open("ab")
        # A session of its own: Ctrl-C in the terminal reaches the supervisor only, which
        # then stops every process in order instead of all of them dying at once.
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int, *, group: bool) -> None:
        if not self.alive() or self.popen is None:
            return
        try:
            if group:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 20.0, *, group: bool = True) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; ``group`` includes its children."""
        if self.popen is None:
            return
        self.signal(signal.SIGTERM, group=group)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL, group=group)
            self.popen.wait(10)
        if group:
            # Run workers outlive their code server by design; at shutdown the rest of the
            # group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Topology:
    """The processes of one platform instance.

    ``root`` is the repository (workspace.yaml, dagster.yaml, location environments in
    ``envs_dir``); ``home`` the instance home; ``environ`` the base environment (settings
    and ``DAGSTER_POSTGRES_*`` come from it).
    """

    root: Path
    home: Path
    environ: Mapping[str, str]
    webserver_port: int = 3000
    code_server_ports: Mapping[str, int] = field(default_factory=dict)
    envs_dir: Path | None = None
    host_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    log_dir: Path | None = None
    storage: str = ""
    schedules: bool = True
    """False stops every schedule before the daemon starts: a platform started to count
    runs (tests, benchmarks) would otherwise get a wall-clock tick's runs at some hours."""
    locations: list[Location] = field(default_factory=list)
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.home = self.home.resolve()
        self.envs_dir = (self.envs_dir or self.root / ".venvs").resolve()
        # Not `logs`: Dagster treats $DAGSTER_HOME/logs as its own queue and empties it.
        self.log_dir = (self.log_dir or self.home / "process-logs").resolve()
        self.locations = read_locations(self.root / "workspace.yaml")

    # -- environment -------------------------------------------------------------------

    @property
    def webserver_url(self) -> str:
        return f"http://{HOST}:{self.webserver_port}"

    def base_env(self) -> dict[str, str]:
        env = with_defaults(self.environ)
        env["DAGSTER_HOME"] = str(self.home)
        env.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
        env.setdefault("DAGSTER_WEBSERVER_URL", self.webserver_url)
        env["DAGSTER_WEBSERVER_URL"] = self.webserver_url
        for loc in self.locations:
            env[loc.host_var] = HOST
            env[loc.port_var] = str(self.port_of(loc.name))
        return env

    def port_of(self, location: str) -> int:
        if location not in self.code_server_ports:
            raise KeyError(f"no port assigned to location {location!r}")
        return self.code_server_ports[location]

    def location_bin(self, location: str) -> Path:
        assert self.envs_dir is not None
        return self.envs_dir / location / "bin"

    # -- process definitions -----------------------------------------------------------

    def _code_server(
        self, loc: Location, module: str | None = None, extra_env: Mapping[str, str] | None = None
    ) -> Process:
        bin_dir = self.location_bin(loc.name)
        if not (bin_dir / "dagster").exists():
            raise StartupError(
                f"no environment for location {loc.name!r} in {bin_dir.parent}: run `make setup`"
            )
        env = self.base_env()
        # Run workers are spawned by the code server with `dagster` from PATH: it must be
        # this location's environment, not the host's.
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(bin_dir.parent)
        env.update(extra_env or {})
        # `dagster api grpc` serves the definitions from one process; `code-server start`
        # would add a proxy process in front (a second Python start-up) only to allow a
        # reload from the UI without a restart, which `restart_location` does anyway.
        argv = [
            str(bin_dir / "dagster"),
            "api",
            "grpc",
            "--host",
            HOST,
            "--port",
            str(self.port_of(loc.name)),
            "--module-name",
            module or loc.module,
            "--location-name",
            loc.name,
            "--use-python-environment-entry-point",
        ]
        assert self.log_dir is not None
        return Process(loc.name, argv, env, self.log_dir / f"{loc.name}.log")

    def _host_process(self, name: str, argv: list[str]) -> Process:
        env = self.base_env()
        env["PATH"] = f"{self.host_bin}{os.pathsep}{env.get('PATH', '')}"
        assert self.log_dir is not None
        return Process(
            name, [str(self.host_bin / argv[0]), *argv[1:]], env, self.log_dir / f"{name}.log"
        )

    def _webserver(self) -> Process:
        return self._host_process(
            "webserver",
            [
                "dagster-webserver",
                "--host",
                HOST,
                "--port",
                str(self.webserver_port),
                "--workspace",
                str(self.root / "workspace.yaml"),
            ],
        )

    def _daemon(self) -> Process:
        return self._host_process(
            "daemon",
            [
                "dagster-daemon",
                "run",
                "--workspace",
                str(self.root / "workspace.yaml"),
            ],
        )

    # -- readiness ---------------------------------------------------------------------

    def code_server_serving(self, location: str) -> bool:
        # A plain TCP connect first: the gRPC client logs every refused attempt.
        try:
            with socket.create_connection((HOST, self.port_of(location)), timeout=1):
                pass
        except OSError:
            return False
        # Dagster's code server answers the standard gRPC health protocol for its service.
        request = health_pb2.HealthCheckRequest(service=GRPC_HEALTH_SERVICE)
        try:
            with grpc.insecure_channel(f"{HOST}:{self.port_of(location)}") as channel:
                # The generated stub sets its methods in __init__, out of the type checker's sight.
                check = health_pb2_grpc.HealthStub(channel).Check  # pyright: ignore[reportAttributeAccessIssue]
                reply = check(request, timeout=5)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def graphql(self, query: str, variables: Mapping[str, object] | None = None) -> dict:
        return post_graphql(self.webserver_url, query, variables)

    def location_statuses(self) -> dict[str, str]:
        """Location name to ``LOADED``/``LOADING``/``ERROR`` as the webserver sees it."""
        return location_statuses(self.webserver_url)

    def stop_schedules(self) -> list[str]:
        """Stop every running schedule of every location; the names stopped."""
        data = self.graphql(
            """{ repositoriesOrError { ... on RepositoryConnection { nodes {
                   schedules { id name scheduleState { status } } } } } }"""
        )
        stopped = []
        for repository in data["repositoriesOrError"]["nodes"]:
            for schedule in repository["schedules"]:
                if schedule["scheduleState"]["status"] != "RUNNING":
                    continue
                result = self.graphql(
                    "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                    {"id": schedule["id"]},
                )["stopRunningSchedule"]
                if result["__typename"] != "ScheduleStateResult":
                    raise RuntimeError(f"could not stop schedule {schedule['name']}: {result}")
                stopped.append(schedule["name"])
        return stopped

    def webserver_ready(self) -> bool:
        try:
            statuses = self.location_statuses()
        except (OSError, urllib.error.URLError, RuntimeError, KeyError):
            return False
        names = {loc.name for loc in self.locations}
        return names <= statuses.keys() and all(statuses[n] == "LOADED" for n in names)

    def daemon_healthy(self) -> bool:
        try:
            data = self.graphql(
                "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"
            )
        except (OSError, urllib.error.URLError, RuntimeError):
            return False
        statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        wanted = {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"}
        healthy = {s["daemonType"] for s in statuses if s["healthy"]}
        return wanted <= healthy

    def _await(self, proc: Process, check: Callable[[], bool], timeout: float, what: str) -> None:
        def ready() -> bool:
            if not proc.alive():
                raise StartupError(f"{proc.name} exited while starting:\n{proc.log_tail()}")
            return check()

        try:
            wait_until(ready, timeout, what)
        except TimeoutError as exc:
            raise StartupError(f"{exc}\n--- {proc.name} log ---\n{proc.log_tail()}") from exc

    # -- lifecycle ---------------------------------------------------------------------

    def assign_ports(self) -> None:
        ports = dict(self.code_server_ports)
        for loc in self.locations:
            ports.setdefault(loc.name, free_port())
        self.code_server_ports = ports

    def start(self, timeout: float = 180.0) -> None:
        """Start everything and return once the webserver serves every location loaded
        and the daemon reports healthy; on failure stop what was started and raise."""
        self.assign_ports()
        self.storage = prepare_home(self.home, self.root / "dagster.yaml", self.base_env())
        initialize_storage(self.home, self.base_env())
        try:
            for loc in self.locations:
                self.processes[loc.name] = self._code_server(loc)
                self.processes[loc.name].start(self.root)
            for loc in self.locations:
                self._await(
                    self.processes[loc.name],
                    lambda n=loc.name: self.code_server_serving(n),
                    timeout,
                    f"code server {loc.name}",
                )
            self.processes["daemon"] = self._daemon()
            self.processes["webserver"] = self._webserver()
            if self.schedules:
                self.processes["daemon"].start(self.root)
            self.processes["webserver"].start(self.root)
            self._await(
                self.processes["webserver"],
                self.webserver_ready,
                timeout,
                "webserver with every location loaded",
            )
            if not self.schedules:
                self.stop_schedules()
                self.processes["daemon"].start(self.root)
            self._await(self.processes["daemon"], self.daemon_healthy, timeout, "daemon")
        except BaseException:
            self.stop()
            raise
        self.write_state()

    def start_location(
        self,
        name: str,
        *,
        wait: bool = True,
        timeout: float = 120.0,
        module: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """Start one code server; ``module``/``extra_env`` serve a changed definition."""
        loc = next((loc for loc in self.locations if loc.name == name), None)
        if loc is None:
            raise KeyError(f"unknown location {name!r}")
        proc = self._code_server(loc, module, extra_env)
        proc.start(self.root)
        self.processes[name] = proc
        if wait:
            self._await(
                proc, lambda: self.code_server_serving(name), timeout, f"code server {name}"
            )
        self.write_state()

    def restart_location(
        self,
        name: str,
        *,
        timeout: float = 120.0,
        module: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """Graceful stop of one code server (its in-flight runs continue), then start."""
        proc = self.processes[name]
        proc.stop(group=False)
        self.start_location(name, timeout=timeout, module=module, extra_env=extra_env)

    def kill(self, name: str, sig: int = signal.SIGKILL, *, group: bool = True) -> int:
        """Send ``sig`` to one process (with ``group``, its children too, as when its
        container dies) and wait for it to exit; returns the pid it had."""
        proc = self.processes[name]
        pid = proc.pid
        if pid is None or proc.popen is None:
            raise KeyError(f"{name} was never started")
        proc.signal(sig, group=group)
        proc.popen.wait(60)
        self.write_state()
        return pid

    def start_host(self, name: str, timeout: float = 120.0) -> None:
        """(Re)start the daemon or the webserver and wait until it is ready again."""
        factories = {
            "daemon": (self._daemon, self.daemon_healthy),
            "webserver": (self._webserver, self.webserver_ready),
        }
        make, ready = factories[name]
        old = self.processes.get(name)
        if old is not None and old.alive():
            old.stop()
        proc = make()
        proc.start(self.root)
        self.processes[name] = proc
        self._await(proc, ready, timeout, name)
        self.write_state()

    def reload_location(self, name: str) -> None:
        """Ask the webserver (and through the instance, the daemon) to reload ``name``."""
        reload_location(self.webserver_url, name)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every process: SIGTERM, then SIGKILL what is left after ``timeout``."""
        # Webserver and daemon first so nothing launches into a stopping code server; the
        # code servers then stop together rather than one timeout after another.
        waves = [["webserver", "daemon"], [loc.name for loc in self.locations]]
        for wave in waves:
            procs = [self.processes[n] for n in wave if n in self.processes]
            for proc in procs:
                proc.signal(signal.SIGTERM, group=True)
            deadline = time.monotonic() + timeout
            for proc in procs:
                proc.stop(timeout=max(0.1, deadline - time.monotonic()))
        self.processes.clear()
        (self.home / "stack.json").unlink(missing_ok=True)

    def write_state(self) -> None:
        """Pids and ports of the running processes, for `platform-stack restart`."""
        state = {
            "webserver_url": self.webserver_url,
            "processes": {n: p.pid for n, p in self.processes.items() if p.alive()},
            "ports": dict(self.code_server_ports),
        }
        # Written aside and renamed: `restart` polls this file while the stack rewrites it,
        # and must never read half of it.
        target = self.home / "stack.json"
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(target)

    def __enter__(self) -> Topology:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post_graphql(
    webserver_url: str,
    query: str,
    variables: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict:
    """One GraphQL request to a webserver; its ``data``, raising on ``errors``.

    ``headers`` go with the request (the compose stack's sign-in proxy wants
    ``Authorization``).
    """
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(  # noqa: S310 (always our own http URL)
        f"{webserver_url}/graphql",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        # A resolver that raised answers 500 with a GraphQL body (a ``PythonError``
        # result or ``errors``): that is the server's answer, not a transport failure.
        try:
            payload = json.loads(exc.read())
        except ValueError:
            raise exc from None
        if not isinstance(payload, dict) or not (payload.get("errors") or payload.get("data")):
            raise
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def location_statuses(
    webserver_url: str, headers: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Location name to ``LOADED``/``LOADING``/``ERROR`` as a webserver sees it."""
    data = post_graphql(
        webserver_url,
        """{ workspaceOrError { ... on Workspace { locationEntries {
               name loadStatus locationOrLoadError { __typename } } } } }""",
        headers=headers,
    )
    statuses = {}
    for entry in data["workspaceOrError"]["locationEntries"]:
        kind = (entry.get("locationOrLoadError") or {}).get("__typename")
        statuses[entry["name"]] = "ERROR" if kind == "PythonError" else entry["loadStatus"]
    return statuses


def reload_location(webserver_url: str, name: str) -> None:
    """Reload a location through the GraphQL client, raising with the server's reason."""
    from urllib.parse import urlparse

    from dagster_graphql import DagsterGraphQLClient, ReloadRepositoryLocationStatus

    url = urlparse(webserver_url)
    client = DagsterGraphQLClient(url.hostname or HOST, port_number=url.port, timeout=120)
    info = client.reload_repository_location(name)
    if info.status != ReloadRepositoryLocationStatus.SUCCESS:
        raise RuntimeError(f"reloading {name} failed: {info.failure_type}: {info.message}")
