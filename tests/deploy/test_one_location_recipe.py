"""One image recipe for every code location, and every builder uses it.

No location carries a Dockerfile of its own: deploy/docker/location.Dockerfile builds each
of them, named by the build argument LOCATION. Every location of workspace.yaml is built
from it, with its own name, by each of the three builders: the compose file, the Makefile
(`make images` and `make deploy`, run here with a stand-in `docker` that records the
builds it is asked for) and CI. Static and fast: nothing is built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_support import (
    HOST_DOCKERFILE,
    LOCATION_DOCKERFILE,
    ROOT,
    Location,
    lines_naming_locations,
    load_yaml,
    parse_dockerfile,
    workspace_locations,
)

LOCATIONS = workspace_locations()
POSTGRES_DOCKERFILE = "deploy/docker/postgres/Dockerfile"
PROXY_DOCKERFILE = "deploy/docker/proxy/Dockerfile"
OBJECTS_DOCKERFILE = "deploy/docker/objects/Dockerfile"
REUSABLE_WORKFLOW = ".github/workflows/_location.yml"
# What `make images` and `make deploy` need in a copy of the repository: the builds they
# ask for do not depend on anything else.
MAKE_FILES = ("Makefile", "workspace.yaml", "deploy/docker/build-images.sh")
IMAGE_TAG = "recipe-test"
# Any stand-in value works: the builds are recorded, never run.
BASE_IMAGE = "python:3.11.14-slim-trixie"

# A `docker` that records each invocation as one JSON line and answers what
# build-images.sh asks besides the builds (BuildKit present, an image's size).
FAKE_DOCKER = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["image", "inspect"]:
    print(0)
"""


def _is_image_recipe(name: str) -> bool:
    return (
        name in {"Dockerfile", "Containerfile"}
        or name.endswith((".Dockerfile", ".Containerfile", ".dockerfile"))
        or name.startswith(("Dockerfile.", "Containerfile."))
    )


def _image_recipes(folder: Path) -> set[str]:
    """Every Dockerfile-like file below folder, skipping hidden and generated folders."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
        found |= {
            str((Path(dirpath) / f).relative_to(ROOT)) for f in filenames if _is_image_recipe(f)
        }
    return found


# --- the recipe -------------------------------------------------------------------------


def test_no_location_carries_its_own_image_recipe() -> None:
    assert _image_recipes(ROOT / "locations") == set()
    # The platform's recipes: the host image, the one of every location, the sign-in proxy
    # and the PostgreSQL image built from Debian packages where none can be pulled.
    recipes = _image_recipes(ROOT / "deploy") | _image_recipes(ROOT / "shared")
    recipes |= {p.name for p in ROOT.iterdir() if p.is_file() and _is_image_recipe(p.name)}
    assert recipes == {
        HOST_DOCKERFILE,
        LOCATION_DOCKERFILE,
        POSTGRES_DOCKERFILE,
        PROXY_DOCKERFILE,
        OBJECTS_DOCKERFILE,
    }


def test_the_location_recipe_names_no_location() -> None:
    """The recipe favours no team: each location reaches it only as LOCATION."""
    assert lines_naming_locations(LOCATION_DOCKERFILE, LOCATIONS) == {}
    # Without the argument there is no image to build.
    with pytest.raises(AssertionError, match="needs --build-arg LOCATION"):
        parse_dockerfile(LOCATION_DOCKERFILE)


def test_the_recipe_builds_each_location_alone(location: Location) -> None:
    """Its copies and installs are that location's, and its command serves that location."""
    build, final = location.recipe()[0], location.recipe()[-1]
    copied = [w for i in build.all("COPY") for w in i.flags_and_words()[1][:-1]]
    from_locations = {w for w in copied if w.startswith("locations/")}
    assert from_locations == {
        f"locations/{location.name}/pyproject.toml",
        f"locations/{location.name}/src/",
    }
    installs = [i.args for i in build.all("RUN") if "deploy/docker/install.sh" in i.args]
    assert installs
    assert all(f'install.sh "{location.name}" ' in i for i in installs), installs
    env = final.env()
    assert (env["DAGSTER_MODULE_NAME"], env["DAGSTER_LOCATION_NAME"]) == (
        location.module,
        location.name,
    )


# --- the builders -------------------------------------------------------------------------


def test_compose_builds_every_location_from_the_one_recipe() -> None:
    services = load_yaml("docker-compose.yml")["services"]
    for location in LOCATIONS:
        build = services[location.name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == LOCATION_DOCKERFILE, location.name
        assert build["args"]["LOCATION"] == location.name
        image = services[location.name]["image"]
        assert image == f"data-platform/{location.name}:${{IMAGE_TAG:-local}}"
    built = {
        name
        for name, service in services.items()
        if service.get("build", {}).get("dockerfile") == LOCATION_DOCKERFILE
    }
    assert built == {loc.name for loc in LOCATIONS}


def _builds(log: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """The recorded `docker build` calls: image tag -> (Dockerfile, build arguments)."""
    builds: dict[str, tuple[str, dict[str, str]]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        args: list[str] = json.loads(line)
        if args[:1] != ["build"]:
            continue
        build_args = dict(
            args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--build-arg"
        )
        tag = args[args.index("-t") + 1]
        assert tag not in builds, f"{tag} built twice"
        builds[tag] = (args[args.index("-f") + 1], build_args)
    return builds


@pytest.fixture
def make_copy(tmp_path: Path) -> dict[str, Any]:
    """A copy of what the Makefile's image verbs read, with a recording `docker` first on
    PATH and no .env (every setting from the environment)."""
    root = tmp_path / "repo"
    for name in MAKE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "docker.log"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "FAKE_DOCKER_LOG": str(log),
        "DOCKER": str(docker),
        "IMAGE_TAG": IMAGE_TAG,
        "BASE_IMAGE": BASE_IMAGE,
        "POSTGRES_IMAGE": "postgres:15.14",
    }
    return {"root": root, "env": env, "log": log}


def _expected(location: Location) -> tuple[str, dict[str, str]]:
    return LOCATION_DOCKERFILE, {"BASE_IMAGE": BASE_IMAGE, **location.build_args}


@pytest.mark.processes
def test_make_images_builds_every_location_from_the_one_recipe(make_copy: dict) -> None:
    make = shutil.which("make")
    assert make, "make is not installed"
    result = subprocess.run(
        [make, "--no-print-directory", "images"],
        cwd=make_copy["root"],
        env=make_copy["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _builds(make_copy["log"]) == {
        f"data-platform/host:{IMAGE_TAG}": (HOST_DOCKERFILE, {"BASE_IMAGE": BASE_IMAGE}),
        f"data-platform/proxy:{IMAGE_TAG}": (PROXY_DOCKERFILE, {"BASE_IMAGE": BASE_IMAGE}),
        f"data-platform/objects:{IMAGE_TAG}": (OBJECTS_DOCKERFILE, {"BASE_IMAGE": BASE_IMAGE}),
        **{f"data-platform/{loc.name}:{IMAGE_TAG}": _expected(loc) for loc in LOCATIONS},
    }


@pytest.mark.processes
def test_make_deploy_rebuilds_the_location_from_the_one_recipe(make_copy: dict) -> None:
    """`make deploy LOCATION=x` builds x's image alone, from the one recipe."""
    make = shutil.which("make")
    assert make, "make is not installed"
    location = LOCATIONS[-1]
    # The verb's commands as make would run them, only the image build executed here: the
    # others recreate the container and reload it through the running stack.
    planned = subprocess.run(
        [make, "--no-print-directory", "-n", "deploy", f"LOCATION={location.name}"],
        cwd=make_copy["root"],
        env=make_copy["env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    (build,) = [line for line in planned if "deploy/docker/build-images.sh" in line]
    subprocess.run(["sh", "-c", build], cwd=make_copy["root"], env=make_copy["env"], check=True)
    assert _builds(make_copy["log"]) == {
        f"data-platform/{location.name}:{IMAGE_TAG}": _expected(location)
    }


def test_ci_builds_every_location_from_the_one_recipe() -> None:
    reusable = load_yaml(REUSABLE_WORKFLOW)
    (build,) = [
        step
        for job in reusable["jobs"].values()
        for step in job["steps"]
        if "docker/build-push-action" in step.get("uses", "")
    ]
    assert build["with"]["file"] == LOCATION_DOCKERFILE
    assert build["with"]["build-args"] == "LOCATION=${{ inputs.location }}"
    assert build["with"]["tags"] == "data-platform/${{ inputs.location }}:ci"
    # One caller for every location, which rebuilds all of them when the recipe changes.
    workflow = load_yaml(".github/workflows/locations.yml")
    assert workflow["jobs"]["location"]["uses"] == f"./{REUSABLE_WORKFLOW}"
    assert LOCATION_DOCKERFILE in (ROOT / "deploy/ci/changed_locations.py").read_text()
    # No workflow builds or watches a Dockerfile inside a location.
    for path in sorted((ROOT / ".github/workflows").glob("*.yml")):
        text = path.read_text()
        assert not re.search(r"locations/[^\s\"']*Dockerfile", text), path.name
