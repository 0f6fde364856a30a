"""Every image's install recipe, proven without a container engine.

Each image's build stage is replayed on this machine (a location's: the one location
recipe with that location's build argument): the files its COPY instructions
send (through .dockerignore, as `docker build` would) are laid out in a staging folder, and
its `deploy/docker/install.sh` steps run in order into a clean virtual environment. The
environment is then probed with its own interpreter: a location's definitions load with
that location's asset keys, no other location and no webserver is importable; the host
environment has the webserver and the daemon and no user code. A location's workspace
packages are split off into a code layer (`install.sh --split`): the environment left
behind must be byte for byte what the dependency step made, and the probe runs on the two
merged as the runtime stage copies them.

What is not replayed is what only changes where files land or how fast they load: the
interpreter is this machine's (same minor version, checked in test_static) instead of the
image's, and bytecode is not precompiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_instance.config import instance_yaml
from tests.deploy.deploy_support import (
    HOST_DOCKERFILE,
    INSTALL_SCRIPT,
    LOCATION_DOCKERFILE,
    ROOT,
    BuildContext,
    Location,
    Stage,
    parse_dockerfile,
    parse_env,
    workspace_locations,
)

pytestmark = [pytest.mark.processes, pytest.mark.slow]

# Environment of the image build that does not apply here (see the module docstring).
# PATH: the image puts its own uv first; the replay uses the uv already on PATH.
NOT_REPLAYED_ENV = {"UV_PYTHON", "UV_COMPILE_BYTECODE", "PATH"}

PROBE = r"""
import importlib, importlib.util, json, shutil, sys, sysconfig
from pathlib import Path

target, absent = sys.argv[1], sys.argv[2:]
bin_dir = Path(sysconfig.get_path("scripts"))
result = {
    "prefix": sys.prefix,
    "importable": {name: importlib.util.find_spec(name) is not None for name in absent},
    "scripts": sorted(p.name for p in bin_dir.iterdir()),
}
if target != "host":
    import dagster
    module = importlib.import_module(target + ".definitions")
    defs = module.defs
    assert isinstance(defs, dagster.Definitions), type(defs)
    dagster.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    result["module_file"] = importlib.import_module(target).__file__
    result["materializable"] = sorted(list(k.path) for k in graph.materializable_asset_keys)
    result["all_keys"] = sorted(list(k.path) for k in graph.get_all_asset_keys())
print("PROBE " + json.dumps(result))
"""


# What the images' instance file holds, and the module of its storage class: every image
# opens the instance.
DEPLOYED_INSTANCE = instance_yaml(
    (ROOT / "dagster.yaml").read_text(), postgres=True, s3_compute_logs=True
)
INSTANCE_STORAGE = yaml.safe_load(DEPLOYED_INSTANCE)["storage"]["custom"]["module"]
INSTANCE_CONFIG_MODULE = "platform_instance.config"
# A RUN that only fails the build when a build argument is empty.
GUARD = re.compile(r'test -n "[^"$]*" \|\| \{ echo "[^"]*" >&2; exit 1; \}')


def _uv_pin(stage: Stage) -> str:
    pins = {p for i in stage.all("RUN") for p in re.findall(r"\buv==([\d.]+)", i.args)}
    assert len(pins) == 1, f"the build stage must pin uv exactly once: {pins}"
    return pins.pop()


def _check_uv(pin: str) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH (the images install uv==" + pin + ")"
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)
    local = version.stdout.split()[1]
    # Same minor release: same lock format and sync semantics as the image's uv.
    assert local.split(".")[:2] == pin.split(".")[:2], f"uv {local} here, {pin} in the images"


def _copy_into(context_files: list[str], source: str, dest: Path, many: bool) -> None:
    """Docker's COPY of one source (a file or a directory's contents) from the context."""
    src = source.rstrip("/")
    if src in context_files:
        target = dest / Path(src).name if many or str(dest).endswith("/") else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / src, target)
        return
    below = [f for f in context_files if f.startswith(src + "/")]
    assert below, f"COPY {source}: not in the build context (check .dockerignore)"
    for rel in below:
        target = dest / rel[len(src) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)


def _replay_instance_file(words: list[str], image_venv: str | None, workdir: Path, venv: Path):
    """The RUN that makes the instance file, with the replayed environment's interpreter."""
    python, *options = words
    # -B (no bytecode written) is kept: a location's dependency layer must stay unchanged.
    no_bytecode = ["-B"] if options[:1] == ["-B"] else []
    flag, module, *args = options[len(no_bytecode) :]
    assert image_venv, "the instance file is made after the environment is installed"
    assert python == f"{image_venv}/bin/python", "made by the image's own environment"
    assert (flag, module) == ("-m", INSTANCE_CONFIG_MODULE), words
    out = args.index("--out") + 1
    local = _image_path(workdir, args[out])
    local.parent.mkdir(parents=True, exist_ok=True)
    args[out] = str(local)
    python_here = str(venv / "bin" / "python")
    subprocess.run([python_here, *no_bytecode, "-m", module, *args], cwd=workdir, check=True)
    return local


def _image_path(workdir: Path, path: str) -> Path:
    """Where the replay puts a path of the image that lies outside its WORKDIR."""
    return workdir / "_image_root" / path.lstrip("/")


def _tree_digest(root: Path) -> dict[str, tuple[int, str]]:
    """Mode and content digest of every entry below root (what a layer holds)."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            digests[str(path.relative_to(root))] = (0, "-> " + os.readlink(path))
        elif path.is_dir():
            digests[str(path.relative_to(root))] = (path.stat().st_mode, "folder")
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            digests[str(path.relative_to(root))] = (path.stat().st_mode, content)
    return digests


def _merge_code_layer(
    copies: list[tuple[dict[str, str], list[str]]],
    image_venv: str,
    layers: dict[str, Path],
    venv: Path,
) -> None:
    """The runtime stage's copy of the split-off code onto the environment, replayed."""
    for image_dir, local in layers.items():
        assert ({"from": "build"}, [f"{image_dir}/", f"{image_venv}/"]) in copies, (
            f"the runtime stage must copy {image_dir}/ onto {image_venv}/"
        )
        files = [p for p in local.rglob("*") if p.is_file()]
        assert files, f"--split moved nothing to {image_dir}"
        overlap = [p for p in files if (venv / p.relative_to(local)).exists()]
        assert not overlap, f"the code layer would overwrite the dependencies: {overlap[:3]}"
        shutil.copytree(local, venv, dirs_exist_ok=True)


def replay_build_stage(
    dockerfile: str, workdir: Path, venv: Path, build_args: Mapping[str, str] | None = None
) -> tuple[str, list[str]]:
    """Run a Dockerfile's build stage here; returns (image venv path, install.sh targets).

    The instance file the stage makes is checked against the deployed instance config.
    """
    stages = parse_dockerfile(dockerfile, build_args)
    build = stages[0]
    assert build.name == "build", f"{dockerfile}: the first stage must be `build`"
    _check_uv(_uv_pin(build))
    context_files = sorted(BuildContext().files())
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_PROJECT")}
    env.pop("VIRTUAL_ENV", None)
    env["UV_PYTHON"] = sys.executable
    image_workdir: str | None = None
    image_venv: str | None = None
    targets: list[str] = []
    instance_files: list[Path] = []
    deps_only: dict[str, tuple[int, str]] | None = None
    layers: dict[str, Path] = {}
    for instruction in build.instructions:
        keyword = instruction.keyword
        if keyword == "ENV":
            env.update(
                {k: v for k, v in parse_env(instruction.args).items() if k not in NOT_REPLAYED_ENV}
            )
        elif keyword == "WORKDIR":
            assert image_workdir is None, "one WORKDIR in the build stage"
            image_workdir = instruction.args
            assert image_workdir.startswith("/"), "use an absolute WORKDIR"
        elif keyword == "COPY":
            assert image_workdir, "COPY before WORKDIR"
            flags, words = instruction.flags_and_words()
            assert "from" not in flags, "the build stage copies from the build context only"
            *sources, dest = words
            dest_path = dest if dest.startswith("/") else f"{image_workdir}/{dest}"
            assert dest_path.startswith(image_workdir), f"COPY outside WORKDIR: {dest}"
            local = workdir / dest_path[len(image_workdir) :].lstrip("/")
            if dest.endswith("/"):
                local.mkdir(parents=True, exist_ok=True)
            for source in sources:
                _copy_into(context_files, source, local, many=len(sources) > 1)
        elif keyword == "RUN":
            _, words = instruction.flags_and_words()
            if INSTANCE_CONFIG_MODULE in words:
                made = _replay_instance_file(words, image_venv, workdir, venv)
                assert made.read_text() == DEPLOYED_INSTANCE, f"{dockerfile}: instance file"
                instance_files.append(made)
                continue
            if GUARD.fullmatch(instruction.args):
                # The check that a build argument was given, with its value filled in.
                subprocess.run(["sh", "-c", instruction.args], check=True)
                continue
            if INSTALL_SCRIPT not in words:
                # Only the installation of uv itself is allowed besides the recipe.
                assert re.fullmatch(
                    r"--mount=type=secret,id=ca_bundle python3 -m venv /opt/uv && .*"
                    r"/opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "
                    r"uv==[\d.]+",
                    instruction.args,
                ), instruction.args
                continue
            target, venv_arg, *rest = words[words.index(INSTALL_SCRIPT) + 1 :]
            assert image_venv in (None, venv_arg), "one environment per image"
            image_venv = venv_arg
            targets.append(target)
            if rest[:1] == ["--split"]:
                assert deps_only is not None, "--split after a --deps-only install"
                layers[rest[1]] = _image_path(workdir, rest[1])
                rest = ["--split", str(layers[rest[1]])]
            command = ["sh", str(workdir / INSTALL_SCRIPT), target, str(venv), *rest]
            result = subprocess.run(
                command, cwd=workdir, env=env, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, (
                f"{dockerfile}:{instruction.line}: {shlex.join(command)}\n"
                + result.stdout
                + result.stderr
            )
            if rest == ["--deps-only"]:
                deps_only = _tree_digest(venv)
            elif rest[:1] == ["--split"]:
                # What the runtime stage's dependency layer gets: exactly what the cached
                # --deps-only step made, so a code change leaves that layer as it was.
                assert _tree_digest(venv) == deps_only, "--split left the environment changed"
        else:
            raise AssertionError(f"{dockerfile}:{instruction.line}: {keyword} not replayable")
    assert image_venv, f"{dockerfile}: no install step"
    assert len(instance_files) == 1, f"{dockerfile}: one instance file"
    # The runtime stage takes that environment, at the same path (its scripts point there),
    # and the code split off it back on top.
    copies = [i.flags_and_words() for i in stages[-1].all("COPY")]
    assert ({"from": "build"}, [image_venv, image_venv]) in copies
    _merge_code_layer(copies, image_venv, layers, venv)
    return image_venv, targets


def probe(venv: Path, target: str, absent: list[str], cwd: Path) -> dict[str, Any]:
    """Facts about an environment, from its own interpreter, isolated from this checkout."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", PROBE, target, *absent],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("PROBE ")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines, result.stdout + result.stderr
    return json.loads(lines[-1].removeprefix("PROBE "))


def test_location_image_recipe(location: Location, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _, targets = replay_build_stage(
        LOCATION_DOCKERFILE, tmp_path / "src", venv, location.build_args
    )
    assert targets == [location.name] * 3

    others = [loc.name for loc in workspace_locations() if loc != location]
    absent = [*others, "dagster_webserver", "dagster_graphql", "platform_stack", "pytest"]
    facts = probe(venv, location.name, [*absent, INSTANCE_STORAGE], tmp_path)

    # Run workers and code servers open the instance: its storage class must be there.
    assert facts["importable"] == {**dict.fromkeys(absent, False), INSTANCE_STORAGE: True}, (
        "the image holds too much, or not the instance's storage class"
    )
    assert "dagster" in facts["scripts"], "the CMD and the health check run `dagster`"
    # Built as a wheel into the environment, so the runtime stage needs no sources.
    assert Path(facts["module_file"]).is_relative_to(venv)

    materializable = [tuple(k) for k in facts["materializable"]]
    assert materializable, f"{location.module} defines no materializable asset"
    wrong = [k for k in materializable if len(k) != 2 or k[0] != location.name]
    assert not wrong, f"asset keys must be [{location.name!r}, name]: {wrong}"
    # Any other key it knows (an upstream team's asset) belongs to a known location.
    names = {loc.name for loc in workspace_locations()}
    foreign = [k for k in facts["all_keys"] if k[0] not in names]
    assert not foreign, f"keys under no location: {foreign}"


def test_host_image_recipe(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _, targets = replay_build_stage(HOST_DOCKERFILE, tmp_path / "src", venv)
    assert targets == ["host"]

    present = [
        "dagster_webserver",
        "dagster_graphql",
        "dagster_postgres",
        "psycopg2",
        INSTANCE_STORAGE,
    ]
    user_code = ["platform_shared", *(loc.name for loc in workspace_locations())]
    facts = probe(venv, "host", [*present, *user_code, "pytest"], tmp_path)

    assert all(facts["importable"][name] for name in present), facts["importable"]
    assert not any(facts["importable"][name] for name in [*user_code, "pytest"]), (
        "the webserver/daemon image must hold no user code and no dev tools"
    )
    assert {"dagster-webserver", "dagster-daemon"} <= set(facts["scripts"])
