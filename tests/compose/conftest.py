"""Docker Engine and one compose stack for the module's tests.

The engine: the machine's when one answers, else a `dockerd` started here (root) and
stopped by its pid when the session ends. The stack: built and started from a copy of
the checkout by the `make` verbs a user runs (one viewer and one operator account made by
`platform-stack add-user` first), torn down with `down -v` whatever happens; container
logs and the commands' output are kept under ``artifacts/compose``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_stack.topology import free_port
from tests.checkout import copy_checkout
from tests.compose.stack import ROLES, SYSTEM_CA_BUNDLE, ComposeStack
from tests.system.harness import artifacts_dir, eventually

MEASURED: dict[str, float] = {}


def record(name: str, value: float) -> None:
    """A figure for measurements.json: seconds (`..._s`) or megabytes (`..._mb`)."""
    MEASURED[name] = round(value, 1)


def _engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if _engine_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        pytest.fail("no Docker Engine answers and none can be started here (needs root + dockerd)")
    state = tmp_path_factory.mktemp("dockerd")
    log = (state / "dockerd.log").open("w")
    proc = subprocess.Popen(  # a session of its own: stopping it never signals pytest
        [dockerd, "--pidfile", str(state / "dockerd.pid")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        eventually(lambda: proc.poll() is None and _engine_answers(), 60, "dockerd to answer")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def stack(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ComposeStack]:
    """The whole stack, built offline and up, with its images checked for the CA bundle."""
    root = pytestconfig.rootpath
    log_dir = artifacts_dir(root, "compose")
    checkout = tmp_path_factory.mktemp("compose-checkout")
    copy_checkout(root, checkout)
    # The machine's bundle plus a marker line that exists nowhere else: what the build gets
    # as its secret, so the images can be searched for it afterwards.
    ca_bundle = None
    marker = f"platform-ca-bundle-marker-{os.urandom(8).hex()}"
    source = Path(os.environ.get("CA_BUNDLE", str(SYSTEM_CA_BUNDLE)))
    if source.is_file():
        ca_bundle = checkout.parent / "ca-bundle.pem"
        ca_bundle.write_text(f"# {marker}\n" + source.read_text())
    port = free_port()
    compose = ComposeStack(checkout, port=port, ca_bundle=ca_bundle, log_dir=log_dir)
    compose.ca_marker = marker if ca_bundle is not None else None
    try:
        started = time.monotonic()
        images = compose.make("images", timeout=2400)
        record("make_images_s", time.monotonic() - started)
        (log_dir / "images.txt").write_text(images.stdout + images.stderr)
        # No account yet: `make up` must refuse (test_up_refuses_without_an_account).
        compose.refused_up = compose.make("up", check=False, timeout=300)
        # One account per role, as a user makes them, each with a password made here.
        for role in ROLES:
            name = f"{role}-{secrets.token_hex(3)}"
            password = secrets.token_urlsafe(24)
            compose.add_user(name, role, password)
            compose.accounts[role] = (name, password)
        started = time.monotonic()
        compose.make("up", timeout=900)
        compose.up_at = time.monotonic()
        record("make_up_s", compose.up_at - started)
        yield compose
    finally:
        try:
            compose.save_logs()
        finally:
            compose.down()
            # The test's tags only: the layers stay in the build cache for the next run.
            tagged = compose.docker(
                "images", "--format", "{{.Repository}}:{{.Tag}}", check=False
            ).stdout.split()
            for image in tagged:
                if image.startswith("data-platform/") and image.endswith(":compose-test"):
                    compose.docker("rmi", image, check=False)
            (log_dir / "measurements.json").write_text(json.dumps(MEASURED, indent=2))
            shutil.rmtree(checkout, ignore_errors=True)
