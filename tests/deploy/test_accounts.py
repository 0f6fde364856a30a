"""`platform-stack add-user` and `make deploy`'s reload behind the proxy, in this process.

What the proxy does with the files (bcrypt through nginx, the roles' routing, 401 and 403)
is proven against the real containers in tests/compose. Here: what the files hold, what
is refused, and that the password goes nowhere but into the hash. No process starts: the
proxy's reload is replaced where the command line would ask Docker.
"""

from __future__ import annotations

import io
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from platform_stack import accounts, cli
from tests.deploy.deploy_support import load_script

NAME = "ana"


def _password() -> str:
    return secrets.token_urlsafe(24)


def _users(auth_dir: Path) -> list[tuple[str, str]]:
    lines = (auth_dir / accounts.USERS_FILE).read_text().splitlines()
    return [tuple(line.split(":", 1)) for line in lines]  # type: ignore[misc]


def _role_lines(auth_dir: Path) -> list[str]:
    text = (auth_dir / accounts.ROLES_FILE).read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_hash_verifies_and_the_roles_file_maps_the_account(tmp_path: Path) -> None:
    password = _password()
    assert accounts.set_account(tmp_path, NAME, "viewer", password) is False
    ((name, hashed),) = _users(tmp_path)
    assert name == NAME
    assert hashed.startswith(f"$2b${accounts.BCRYPT_ROUNDS:02d}$")
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert not bcrypt.checkpw(_password().encode(), hashed.encode())
    assert _role_lines(tmp_path) == [f"{NAME} viewer;"]
    assert accounts.accounts(tmp_path) == [accounts.Account(NAME, "viewer")]
    # The files only: nothing else is left beside them but the lock.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "roles.map", "users.htpasswd"]


def test_the_proxy_user_can_read_the_files(tmp_path: Path) -> None:
    auth_dir = tmp_path / accounts.AUTH_DIR
    accounts.set_account(auth_dir, NAME, "operator", _password())
    assert stat.S_IMODE(auth_dir.stat().st_mode) == 0o755
    for name in (accounts.USERS_FILE, accounts.ROLES_FILE):
        assert stat.S_IMODE((auth_dir / name).stat().st_mode) == 0o644


def test_replacing_an_account_keeps_one_entry_and_the_others(tmp_path: Path) -> None:
    first, second, other = _password(), _password(), _password()
    accounts.set_account(tmp_path, NAME, "viewer", first)
    accounts.set_account(tmp_path, "bo", "operator", other)
    assert accounts.set_account(tmp_path, NAME, "operator", second) is True
    users = dict(_users(tmp_path))
    assert [name for name, _ in _users(tmp_path)] == [NAME, "bo"]
    assert bcrypt.checkpw(second.encode(), users[NAME].encode())
    assert not bcrypt.checkpw(first.encode(), users[NAME].encode())
    assert bcrypt.checkpw(other.encode(), users["bo"].encode())
    assert _role_lines(tmp_path) == [f"{NAME} operator;", "bo operator;"]


@pytest.mark.parametrize(
    "name",
    [
        *["", "Ana", "1ana", "ana:x", "ana x", "ana;", "a/b", "../ana", '"ana"', "é", "a" * 65],
        *sorted(accounts.RESERVED_NAMES),
    ],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(accounts.AccountError, match="invalid name"):
        accounts.set_account(tmp_path, name, "viewer", _password())
    assert not (tmp_path / accounts.USERS_FILE).exists()


@pytest.mark.parametrize("role", ["", "admin", "Operator", "viewer;", "denied"])
def test_unknown_roles_are_refused(tmp_path: Path, role: str) -> None:
    with pytest.raises(accounts.AccountError, match="unknown role"):
        accounts.set_account(tmp_path, NAME, role, _password())
    assert not (tmp_path / accounts.USERS_FILE).exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [("", "too short"), ("x" * 11, "too short"), ("x" * 73, "too long"), ("x" * 12 + "\n", "line")],
)
def test_weak_or_unhashable_passwords_are_refused(
    tmp_path: Path, password: str, reason: str
) -> None:
    with pytest.raises(accounts.AccountError, match=reason):
        accounts.set_account(tmp_path, NAME, "viewer", password)


def test_a_file_it_does_not_understand_is_left_alone(tmp_path: Path) -> None:
    users = tmp_path / accounts.USERS_FILE
    users.write_text("ana:plain-text\n")
    with pytest.raises(accounts.AccountError, match=r"users.htpasswd:1"):
        accounts.set_account(tmp_path, "bo", "viewer", _password())
    assert users.read_text() == "ana:plain-text\n"


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The proxy's reload replaced: the roots it was asked for."""
    asked: list[Path] = []

    def reload_proxy(root: Path) -> bool:
        asked.append(root)
        return False

    monkeypatch.setattr(accounts, "reload_proxy", reload_proxy)
    return asked


def _add_user(
    monkeypatch: pytest.MonkeyPatch, root: Path, *args: str, stdin: str, tty: bool = False
) -> int:
    stream = io.StringIO(stdin)
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", stream)
    return cli.main(["--root", str(root), "add-user", *args])


def test_add_user_reads_one_line_of_stdin_and_never_prints_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_proxy: list[Path],
) -> None:
    password = _password()
    assert _add_user(monkeypatch, tmp_path, NAME, "--role", "operator", stdin=password + "\n") == 0
    out, err = capsys.readouterr()
    assert password not in out + err
    assert f"{NAME} added as operator" in out
    assert no_proxy == [tmp_path.resolve()]
    ((_, hashed),) = _users(tmp_path / accounts.AUTH_DIR)
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert password not in "".join(p.read_text() for p in (tmp_path / accounts.AUTH_DIR).iterdir())
    # Again: replaced, still one account.
    assert _add_user(monkeypatch, tmp_path, NAME, "--role", "viewer", stdin=_password()) == 0
    assert f"{NAME} replaced as viewer" in capsys.readouterr().out
    assert accounts.accounts(tmp_path / accounts.AUTH_DIR) == [accounts.Account(NAME, "viewer")]


def test_add_user_asks_twice_on_a_terminal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_proxy: list[Path],
) -> None:
    first, second = _password(), _password()
    answers = iter([first, second])
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:  # unechoed, as the real one
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(cli.getpass, "getpass", getpass)
    assert _add_user(monkeypatch, tmp_path, NAME, "--role", "viewer", stdin="", tty=True) == 2
    assert "differ" in capsys.readouterr().err
    assert len(prompts) == 2
    assert not (tmp_path / accounts.AUTH_DIR / accounts.USERS_FILE).exists()
    answers = iter([first, first])
    assert _add_user(monkeypatch, tmp_path, NAME, "--role", "viewer", stdin="", tty=True) == 0
    out, err = capsys.readouterr()
    assert first not in out + err
    assert no_proxy


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad", "--role", "viewer"], "invalid name"),
        ([NAME, "--role", "admin"], "unknown role"),
    ],
)
def test_add_user_refuses_before_asking(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_proxy: list[Path],
    args: list[str],
    message: str,
) -> None:
    password = _password()
    assert _add_user(monkeypatch, tmp_path, *args, stdin=password) == 2
    out, err = capsys.readouterr()
    assert message in err
    assert password not in out + err
    assert not (tmp_path / accounts.AUTH_DIR).exists()
    assert not no_proxy


# -- the proxy's reload --------------------------------------------------------------------


class FakeDocker:
    """Answers in place of Docker: the proxy's container, running or not."""

    def __init__(self, container: str, running: bool) -> None:
        self.container, self.running = container, running
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        if argv[-3:] == ["ps", "-q", "proxy"]:
            out = f"{self.container}\n" if self.container else ""
        elif argv[:2] == ["docker", "inspect"]:
            out = "true\n" if self.running else "false\n"
        else:
            out = ""
        return subprocess.CompletedProcess(argv, 0, out, "")


@pytest.mark.parametrize(
    ("container", "running", "reloaded"),
    [("c0ffee", True, True), ("c0ffee", False, False), ("", False, False)],
)
def test_only_a_running_proxy_is_asked_to_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container: str, running: bool, reloaded: bool
) -> None:
    docker = FakeDocker(container, running)
    monkeypatch.setattr(accounts, "compose_command", lambda: ["docker", "compose"])
    monkeypatch.setattr(accounts.subprocess, "run", docker)
    assert accounts.reload_proxy(tmp_path) is reloaded
    reloads = [c for c in docker.calls if "reload" in c]
    expected = [
        ["docker", "compose", "exec", "-T", "proxy", "nginx", "-e", "stderr", "-s", "reload"]
    ]
    assert reloads == (expected if reloaded else [])


# -- make deploy's reload, inside the webserver's container ----------------------------------


def _reload_module() -> Any:
    return load_script("deploy/docker/reload_location.py")


class FakeWebserver:
    """The GraphQL client's answers: the code server unreachable ``unreachable`` times."""

    def __init__(self, unreachable: int, then: str = "SUCCESS") -> None:
        self.unreachable, self.then, self.asked = unreachable, then, 0

    def __call__(self, host: str, port_number: int, timeout: int) -> FakeWebserver:
        assert host == "127.0.0.1", "the webserver beside it, never through the proxy"
        return self

    def reload_repository_location(self, name: str) -> Any:
        from dagster_graphql import ReloadRepositoryLocationInfo, ReloadRepositoryLocationStatus

        self.asked += 1
        if self.asked <= self.unreachable:
            message = "DagsterUserCodeUnreachableError: Could not reach user code server."
            return ReloadRepositoryLocationInfo(
                ReloadRepositoryLocationStatus.FAILURE, "PythonError", message
            )
        if self.then == "SUCCESS":
            return ReloadRepositoryLocationInfo(ReloadRepositoryLocationStatus.SUCCESS)
        return ReloadRepositoryLocationInfo(
            ReloadRepositoryLocationStatus.FAILURE, "RepositoryLocationNotFound", self.then
        )


class FakeClock:
    """Time that moves by the pause asked for, without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("webserver", "status", "asked"),
    [
        (FakeWebserver(0), 0, 1),
        (FakeWebserver(3), 0, 4),
        (FakeWebserver(0, then="no such location"), 1, 1),
        (FakeWebserver(1000), 1, None),
    ],
)
def test_the_reload_waits_for_the_recreated_code_server_only(
    monkeypatch: pytest.MonkeyPatch, webserver: FakeWebserver, status: int, asked: int | None
) -> None:
    module = _reload_module()
    monkeypatch.setattr(module, "DagsterGraphQLClient", webserver)
    monkeypatch.setattr(module, "time", FakeClock())
    assert module.main(["transformation", "--wait", "60"]) == status
    if asked is not None:
        assert webserver.asked == asked
    else:  # gave up once the wait was over: one try every 2 s
        assert webserver.asked == 60 // 2 + 2
