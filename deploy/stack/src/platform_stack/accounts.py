"""Accounts of the compose stack's sign-in proxy (``make add-user``).

Two files in the repository's ``.auth/`` (git-ignored), which docker-compose.yml mounts
read-only into the proxy (deploy/docker/proxy/nginx.conf):

- ``users.htpasswd``: one ``name:hash`` line per account, the hash bcrypt (``$2b$``),
  which the proxy checks on every request;
- ``roles.map``: one ``name role;`` line per account, the nginx ``map`` entries that send
  operators to the full webserver and viewers to the read-only one.

Each file is replaced whole (written aside, then renamed) under a lock, so the proxy and
a concurrent ``add-user`` never see half of one. Mode 0644 in a 0755 folder: the proxy
runs as its own non-root uid inside its container, and reads them through the mount
whoever owns them on the host; they hold no password, only hashes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt

AUTH_DIR = ".auth"
USERS_FILE = "users.htpasswd"
ROLES_FILE = "roles.map"
ROLES = ("viewer", "operator")
# Basic authentication has no session: the proxy checks the hash on every request. Cost
# 10 (about 75 ms a check on one core) is the floor usually recommended for bcrypt, and
# what a page of the UI can afford per request.
BCRYPT_ROUNDS = 10
MIN_PASSWORD_CHARS = 12
# bcrypt reads no further; the library refuses longer passwords rather than cut them.
MAX_PASSWORD_BYTES = 72
# A name is safe in both files and in a URL: no ``:`` (htpasswd), no space, quote or
# ``;`` (nginx), and not a word the ``map`` block reserves.
NAME = re.compile(r"[a-z][a-z0-9._-]{0,63}")
RESERVED_NAMES = frozenset({"default", "hostnames", "include", "volatile"})
ROLES_HEADER = (
    "# Written by `make add-user` (platform-stack add-user): the role of each account of\n"
    "# users.htpasswd, read by the sign-in proxy when it starts or reloads.\n"
)
FILE_MODE = 0o644
DIR_MODE = 0o755


class AccountError(ValueError):
    """A name, role, password or accounts file that is refused; the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str


def check_name(name: str) -> str:
    if not NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise AccountError(
            f"invalid name {name!r}: 1 to 64 of a-z 0-9 . _ -, starting with a letter "
            f"(and none of {', '.join(sorted(RESERVED_NAMES))})"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise AccountError(f"the password is too long: at most {MAX_PASSWORD_BYTES} bytes")
    if any(char in password for char in "\r\n\0"):
        raise AccountError("the password holds a line break or a NUL character")
    return password


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def read_users(path: Path) -> dict[str, str]:
    """Name to hash, in file order; refuses a line it does not understand."""
    users: dict[str, str] = {}
    if not path.exists():
        return users
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not NAME.fullmatch(name) or not hashed.startswith("$2"):
            raise AccountError(f"{path}:{number}: not a `name:bcrypt-hash` line")
        users[name] = hashed
    return users


def read_roles(path: Path) -> dict[str, str]:
    """Name to role, in file order; refuses a line it does not understand."""
    roles: dict[str, str] = {}
    if not path.exists():
        return roles
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = re.fullmatch(r"(\S+)\s+(\S+);", text)
        if not match or not NAME.fullmatch(match[1]) or match[2] not in ROLES:
            raise AccountError(f"{path}:{number}: not a `name role;` line")
        roles[match[1]] = match[2]
    return roles


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` whole: a reader sees the old file or the new one, never a part."""
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


@contextlib.contextmanager
def _locked(auth_dir: Path) -> Iterator[None]:
    auth_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # mkdir's mode passes through the umask; the proxy's uid must be able to enter.
    auth_dir.chmod(DIR_MODE)
    with (auth_dir / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def set_account(auth_dir: Path, name: str, role: str, password: str) -> bool:
    """Add the account, or replace its hash and role; True when it existed already."""
    check_name(name)
    check_role(role)
    hashed = hash_password(check_password(password))
    with _locked(auth_dir):
        users_path, roles_path = auth_dir / USERS_FILE, auth_dir / ROLES_FILE
        users, roles = read_users(users_path), read_roles(roles_path)
        existed = name in users
        users[name], roles[name] = hashed, role
        # The hash first: between the two renames the account can sign in but has no
        # role yet (refused), never a role it is not being given.
        _write_atomically(users_path, "".join(f"{n}:{h}\n" for n, h in users.items()))
        role_lines = "".join(f"{n} {r};\n" for n, r in roles.items())
        _write_atomically(roles_path, ROLES_HEADER + role_lines)
    return existed


def accounts(auth_dir: Path) -> list[Account]:
    """The accounts that can sign in: a hash and a role."""
    users, roles = read_users(auth_dir / USERS_FILE), read_roles(auth_dir / ROLES_FILE)
    return [Account(name, roles[name]) for name in users if name in roles]


def compose_command() -> list[str] | None:
    """`docker compose` (v2) where the plugin answers, else Compose 1.29, else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    found = shutil.which("docker-compose")
    return [found] if found else None


def reload_proxy(root: Path) -> bool:
    """Ask the compose stack's proxy, if it runs, to read the roles again; True if it did.

    The hashes need no reload (the proxy reads them on every request); the roles are part
    of its configuration.
    """
    compose = compose_command()
    if compose is None:
        return False
    # Fails without a usable .env or engine: then no stack of this checkout runs either.
    running = subprocess.run(
        [*compose, "ps", "-q", "proxy"], cwd=root, capture_output=True, text=True, check=False
    )
    if running.returncode != 0 or not running.stdout.strip():
        return False
    # Compose 1.29 lists stopped containers too.
    state = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", running.stdout.split()[0]],
        capture_output=True,
        text=True,
        check=False,
    )
    if state.stdout.strip() != "true":
        return False
    reload = subprocess.run(
        [*compose, "exec", "-T", "proxy", "nginx", "-e", "stderr", "-s", "reload"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if reload.returncode != 0:
        raise RuntimeError(f"the proxy did not reload: {reload.stderr.strip()[-500:]}")
    return True
