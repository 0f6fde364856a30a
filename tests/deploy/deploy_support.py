"""What the deployment tests read: workspace locations, Dockerfiles, build-context rules.

Small, strict readers of the repository's own files (they fail on what they do not
understand rather than guess), shared by the deployment tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HOST_DOCKERFILE = "deploy/docker/host.Dockerfile"
# The one image recipe of every code location, named by its build argument LOCATION.
LOCATION_DOCKERFILE = "deploy/docker/location.Dockerfile"
INSTALL_SCRIPT = "deploy/docker/install.sh"


def load_script(relpath: str) -> ModuleType:
    """A script of the repository that is not part of any package, imported as a module."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_yaml(relpath: str) -> Any:
    return yaml.safe_load((ROOT / relpath).read_text())


# --- workspace.yaml ---------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """A ``grpc_server`` entry of workspace.yaml and the variables naming its address."""

    name: str
    host_env: str
    port_env: str

    @property
    def build_args(self) -> dict[str, str]:
        """The ``--build-arg`` values that make this location's image of the one recipe."""
        return {"LOCATION": self.name}

    @property
    def module(self) -> str:
        return f"{self.name}.definitions"

    def recipe(self) -> list[Stage]:
        """The stages of this location's image: the one recipe with its build arguments."""
        return parse_dockerfile(LOCATION_DOCKERFILE, self.build_args)


def _env_name(value: Any, what: str) -> str:
    if not (isinstance(value, dict) and set(value) == {"env"}):
        raise AssertionError(f"workspace.yaml: {what} must be {{env: NAME}}, got {value!r}")
    return str(value["env"])


def lines_naming_locations(relpath: str, locations: list[Location]) -> dict[str, list[str]]:
    """The lines of the file ``relpath`` (comments left out) that name a location, by
    location: a file meant for every team must name none."""
    lines = [
        line
        for line in (ROOT / relpath).read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    named = {
        loc.name: [line for line in lines if re.search(rf"\b{loc.name}\b", line)]
        for loc in locations
    }
    return {name: found for name, found in named.items() if found}


def workspace_locations() -> list[Location]:
    """Every code location, in workspace.yaml order: the list the other files must follow."""
    locations: list[Location] = []
    for entry in load_yaml("workspace.yaml")["load_from"]:
        server = entry["grpc_server"]
        name = server["location_name"]
        locations.append(
            Location(
                name=name,
                host_env=_env_name(server["host"], f"{name}.host"),
                port_env=_env_name(server["port"], f"{name}.port"),
            )
        )
    return locations


def env_references(node: Any) -> set[str]:
    """Names of the ``{env: NAME}`` values anywhere in a loaded Dagster YAML file."""
    found: set[str] = set()
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            found.add(node["env"])
        for value in node.values():
            found |= env_references(value)
    elif isinstance(node, list):
        for value in node:
            found |= env_references(value)
    return found


# --- Dockerfiles ------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def json_args(self) -> list[str] | None:
        """The exec (JSON array) form of the arguments, if that is the form used."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list), f"line {self.line}: not a JSON array"
        return [str(v) for v in value]

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """Leading ``--flag=value`` options, then the remaining shell words."""
        words = self.json_args() or shlex.split(self.args)
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            key, _, value = words.pop(0)[2:].partition("=")
            flags[key] = value
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for instruction in self.all("ENV"):
            merged.update(parse_env(instruction.args))
        return merged


def parse_env(args: str) -> dict[str, str]:
    """``ENV A=1 B="two words"`` (the key=value form; the legacy ``ENV A 1`` is refused)."""
    pairs: dict[str, str] = {}
    for word in shlex.split(args):
        key, sep, value = word.partition("=")
        assert sep, f"ENV {args!r}: use the KEY=value form"
        pairs[key] = value
    return pairs


def _substitute(text: str, args: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` of the given build arguments replaced by their values."""
    if not args:
        return text
    names = "|".join(re.escape(n) for n in args)
    pattern = re.compile(rf"\$(?:\{{({names})\}}|({names})\b)")
    return pattern.sub(lambda m: args[m[1] or m[2]], text)


def parse_dockerfile(relpath: str, build_args: Mapping[str, str] | None = None) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped.

    An ``ARG`` before the first ``FROM`` is a build argument of the FROM lines: a stage's
    base is given with such arguments at their declared defaults (``${BASE_IMAGE}``), or as
    ``build_args`` sets them. An ``ARG`` inside a stage takes its value from ``build_args``
    (what ``--build-arg`` passes), else its default; one with neither is refused, as is a
    build argument that no ``ARG`` declares. Below its ``ARG``, a stage's instructions read
    ``$NAME`` and ``${NAME}`` as the value, as Docker does in COPY and ENV and the shell
    does in RUN.
    """
    given = dict(build_args or {})
    declared: set[str] = set()
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    stage_args: dict[str, str] = {}
    pending: list[str] = []
    start = 0
    for number, raw in enumerate((ROOT / relpath).read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(p for p in pending if p).partition(" ")
        pending = []
        instruction = Instruction(keyword.upper(), _substitute(args.strip(), stage_args), start)
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"{relpath}:{start}: unexpected FROM {args!r}"
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], words[0])
            stages.append(Stage(base=base, name=name))
            stage_args = {}
        elif instruction.keyword == "ARG" and not stages:
            key, sep, value = instruction.args.partition("=")
            assert sep, f"{relpath}:{start}: a FROM argument needs a default"
            global_args[key] = given.get(key, value)
            declared.add(key)
        elif instruction.keyword == "ARG":
            key, sep, value = args.strip().partition("=")
            assert key in given or sep, f"{relpath}:{start}: ARG {key} needs --build-arg {key}="
            stage_args[key] = given.get(key, value)
            declared.add(key)
        else:
            assert stages, f"{relpath}:{start}: {keyword} before FROM"
            stages[-1].instructions.append(instruction)
    assert not pending, f"{relpath}: dangling line continuation"
    unused = set(given) - declared
    assert not unused, f"{relpath}: no ARG declares {sorted(unused)}"
    return stages


# --- .dockerignore ----------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore matching (Go filepath.Match plus ``**``) as a regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            if body.startswith(("!", "^")):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    parts: tuple[str, ...]
    include: bool


class BuildContext:
    """The files ``docker build`` sends from the repository root, after .dockerignore."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.rules: list[_Rule] = []
        ignore = root / ".dockerignore"
        for raw in ignore.read_text().splitlines() if ignore.exists() else []:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            self.rules.append(_Rule(_pattern_regex(pattern), tuple(pattern.split("/")), include))

    def excluded(self, relpath: str) -> bool:
        """Docker's rule: the last pattern matching the path or one of its parents wins."""
        parts = relpath.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for rule in self.rules:
            if any(rule.regex.fullmatch(p) for p in prefixes):
                verdict = not rule.include
        return verdict

    def _may_include_below(self, reldir: str) -> bool:
        parts = reldir.split("/")
        for rule in self.rules:
            if not rule.include:
                continue
            for i, dir_part in enumerate(parts):
                if i >= len(rule.parts) or rule.parts[i] == "**":
                    return True
                if not fnmatchcase(dir_part, rule.parts[i]):
                    break
            else:
                return True
        return False

    def files(self) -> Iterator[str]:
        """Relative POSIX paths of every file in the context."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            reldir = Path(dirpath).relative_to(self.root).as_posix()
            keep = []
            for d in sorted(dirnames):
                rel = d if reldir == "." else f"{reldir}/{d}"
                if not self.excluded(rel) or self._may_include_below(rel):
                    keep.append(d)
            dirnames[:] = keep
            for f in sorted(filenames):
                rel = f if reldir == "." else f"{reldir}/{f}"
                if not self.excluded(rel):
                    yield rel


# --- compose ------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def compose_variables(text: str) -> dict[str, tuple[str, str]]:
    """``${NAME<op>arg}`` references of a compose file: name -> (operator, argument)."""
    found: dict[str, tuple[str, str]] = {}
    for match in _INTERPOLATION.finditer(text.replace("$$", "")):
        found.setdefault(match["name"], (match["op"] or "", match["arg"]))
    return found


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's interpolation of one string (``$$`` escapes kept as ``$``)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"]
        current = environ.get(name)
        if op == ":-":
            return current or arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?") and not current:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return current or ""

    parts = value.split("$$")
    return "$".join(_INTERPOLATION.sub(substitute, part) for part in parts)
