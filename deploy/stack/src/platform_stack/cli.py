"""``platform-stack``: run the local stack (with sample data on its first start), restart
or reload a location, add an account to the compose stack's sign-in proxy."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dotenv import dotenv_values

from platform_shared.sample_data import FIRST_START, generate
from platform_shared.settings import current
from platform_stack import accounts
from platform_stack.scaffold import ScaffoldError, scaffold
from platform_stack.topology import StartupError, Topology, reload_location, wait_until
from platform_stack.workspace import read_locations

# Fixed ports on the local stack so a second terminal (restart, reload) can find them.
FIRST_CODE_SERVER_PORT = 4001


def _environ(root: Path) -> dict[str, str]:
    """Process environment over the repository's ``.env`` (the process wins)."""
    file_values = {k: v for k, v in dotenv_values(root / ".env").items() if v is not None}
    return {**file_values, **os.environ}


def _has_landing_files(landing: Path) -> bool:
    return landing.exists() and any(landing.rglob("*.csv"))


def cmd_dev(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    environ = _environ(root)
    locations = read_locations(root / "workspace.yaml")
    topology = Topology(
        root=root,
        home=Path(args.home or root / ".dagster_home"),
        environ=environ,
        webserver_port=args.port,
        code_server_ports={}
        if args.any_ports
        else {loc.name: FIRST_CODE_SERVER_PORT + i for i, loc in enumerate(locations)},
    )
    landing = root / environ.get("LANDING_URL", current("LANDING_URL"))
    if not _has_landing_files(landing):
        print(f"First start: writing sample data into {landing}", flush=True)
        generate(landing, FIRST_START)

    def interrupt(signum: int, _frame: object) -> None:
        # SIGTERM (a service manager, a test harness) stops the stack like Ctrl-C does.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    print("Starting code servers, daemon and webserver...", flush=True)
    try:
        topology.start()
        print(
            f"\nDagster UI: {topology.webserver_url}  (instance: {topology.storage}, "
            f"home: {topology.home})\nLogs: {topology.log_dir}\n"
            "Sensors are on: landing files flow through ingestion, transformation and "
            "analytics.\nCtrl-C stops every process.",
            flush=True,
        )
        while True:
            time.sleep(1)
            _supervise(topology)
    except StartupError as exc:
        print(f"The stack did not start:\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
    finally:
        topology.stop()
    return 0


def _supervise(topology: Topology) -> None:
    """Restart any process that exited, as the compose stack's restart policy would.

    This is also how `platform-stack restart` works: it stops one code server and this
    loop brings it back with the new code.
    """
    for name, proc in list(topology.processes.items()):
        if proc.alive():
            continue
        print(f"{name} exited; restarting it", flush=True)
        try:
            if name in {loc.name for loc in topology.locations}:
                topology.start_location(name)
            else:
                proc.start(topology.root)
                topology.write_state()
        except StartupError as exc:
            print(f"{name} failed to restart: {exc}", file=sys.stderr, flush=True)


def _state(root: Path, home: str | None) -> dict:
    state_file = Path(home or root / ".dagster_home") / "stack.json"
    if not state_file.exists():
        raise SystemExit("the local stack is not running (start it with `make dev`)")
    return json.loads(state_file.read_text())


def cmd_restart(args: argparse.Namespace) -> int:
    """Redeploy one location on the local stack: restart its code server, then reload."""
    root = Path(args.root).resolve()
    names = [loc.name for loc in read_locations(root / "workspace.yaml")]
    if args.location not in names:
        print(f"unknown location {args.location!r}; locations: {', '.join(names)}", file=sys.stderr)
        return 2
    state = _state(root, args.home)
    pid = state["processes"].get(args.location)
    if pid:
        os.kill(pid, signal.SIGTERM)  # graceful: in-flight runs of the location finish

        def replaced() -> bool:
            new = _state(root, args.home)["processes"].get(args.location)
            return bool(new) and new != pid

        wait_until(replaced, 120, f"restarted code server {args.location}", interval=0.5)
    reload_location(state["webserver_url"], args.location)
    print(f"{args.location} restarted and reloaded", flush=True)
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    # The UI's URL as the stack was given it: the environment, else .env, else the default.
    environ = _environ(Path(args.root).resolve())
    url = args.url or environ.get("DAGSTER_WEBSERVER_URL") or "http://127.0.0.1:3000"
    reload_location(url, args.location)
    print(f"{args.location} reloaded in {url}", flush=True)
    return 0


def cmd_new_location(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    try:
        written = scaffold(root, args.name)
    except ScaffoldError as exc:
        print(exc, file=sys.stderr)
        return 2
    for path in written:
        print(f"  wrote {path.relative_to(root)}")
    print(f"Location {args.name} scaffolded: lock and install it with `uv lock && make setup`.")
    return 0


def _read_password(name: str) -> str:
    """Asked twice, unechoed, on a terminal; else one line of stdin (scripts, tests)."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("The same password again: ") != password:
            raise accounts.AccountError("the two passwords differ")
        return password
    return sys.stdin.readline().removesuffix("\n").removesuffix("\r")


def cmd_add_user(args: argparse.Namespace) -> int:
    """Add an account to the sign-in proxy, or replace its password and role."""
    root = Path(args.root).resolve()
    auth_dir = root / accounts.AUTH_DIR
    try:
        accounts.check_name(args.name)
        accounts.check_role(args.role)
        existed = accounts.set_account(auth_dir, args.name, args.role, _read_password(args.name))
    except accounts.AccountError as exc:
        print(f"add-user: {exc}", file=sys.stderr)
        return 2
    done = "replaced" if existed else "added"
    print(f"{args.name} {done} as {args.role} in {auth_dir.relative_to(root)}/", flush=True)
    try:
        reloaded = accounts.reload_proxy(root)
    except RuntimeError as exc:
        print(f"add-user: {exc}", file=sys.stderr)
        return 1
    print(
        "The running proxy reloaded its roles."
        if reloaded
        else "No proxy runs here: `make up` starts it with these accounts.",
        flush=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platform-stack", description=__doc__)
    parser.add_argument("--root", default=".", help="repository root (default: current folder)")
    parser.add_argument("--home", default=None, help="instance home (default: ROOT/.dagster_home)")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the local stack in the foreground")
    dev.add_argument("--port", type=int, default=3000, help="webserver port on 127.0.0.1")
    dev.add_argument("--any-ports", action="store_true", help="free ports for code servers (tests)")
    dev.set_defaults(func=cmd_dev)

    restart = sub.add_parser("restart", help="restart and reload one location on the local stack")
    restart.add_argument("location")
    restart.set_defaults(func=cmd_restart)

    reload = sub.add_parser("reload", help="reload one location in a running webserver")
    reload.add_argument("location")
    reload.add_argument(
        "--url", default=None, help="the UI (default: DAGSTER_WEBSERVER_URL, from .env too)"
    )
    reload.set_defaults(func=cmd_reload)

    add_user = sub.add_parser(
        "add-user",
        help="add or replace an account of the compose stack's sign-in proxy "
        "(password from the terminal, or one line of stdin)",
    )
    add_user.add_argument("name", help="the account's name: a-z 0-9 . _ -")
    add_user.add_argument(
        "--role", required=True, help="viewer (read-only webserver) or operator (full webserver)"
    )
    add_user.set_defaults(func=cmd_add_user)

    new = sub.add_parser("new-location", help="scaffold a new team's code location")
    new.add_argument("name")
    new.set_defaults(func=cmd_new_location)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
