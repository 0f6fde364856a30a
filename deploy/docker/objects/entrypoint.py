"""Start the compose stack's object store and make its bucket; or, with ``--health``, say
whether it is ready (the container's healthcheck).

``weed server`` runs SeaweedFS's master, volume server, filer and S3 gateway in one
process. Only the S3 gateway listens beyond the container's loopback; the others, which
take requests without credentials, do not. The S3 identities come from the environment
and are written to a file on the container's tmpfs, never into the image or a log:

- ``OBJECTS_PLATFORM_KEY_ID`` / ``OBJECTS_PLATFORM_SECRET``: the platform's processes,
  which read, write and list in the bucket ``OBJECTS_BUCKET`` and nowhere else;
- ``OBJECTS_READER_KEY_ID`` / ``OBJECTS_READER_SECRET``: readers (notebooks, BI tools,
  the viewers' webserver), which read and list only.

Neither may create or delete a bucket: the bucket is made here, through the master, once
the store answers. The process forwards SIGTERM and SIGINT to ``weed`` and exits with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

S3_PORT = 8333
DATA = os.environ.get("OBJECTS_DATA_DIR", "/data")
# The container's tmpfs: the identities file lives as long as the process.
RUN = Path(os.environ.get("OBJECTS_RUN_DIR", "/tmp/objects"))  # noqa: S108
CONFIG = RUN / "s3.json"
READY = RUN / "ready"
READY_SECONDS = 120


def _identities(bucket: str) -> dict:
    grants = {"PLATFORM": ("Read", "Write", "List", "Tagging"), "READER": ("Read", "List")}
    identities = []
    for who, actions in grants.items():
        key_id = os.environ.get(f"OBJECTS_{who}_KEY_ID", "")
        credential = os.environ.get(f"OBJECTS_{who}_SECRET", "")
        if not key_id or not credential:
            raise SystemExit(f"objects: OBJECTS_{who}_KEY_ID and OBJECTS_{who}_SECRET must be set")
        identities.append(
            {
                "name": who.lower(),
                "credentials": [{"accessKey": key_id, "secretKey": credential}],
                "actions": [f"{action}:{bucket}" for action in actions],
            }
        )
    return {"identities": identities}


def _answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{S3_PORT}/healthz", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def _has_bucket(bucket: str) -> bool:
    """Whether ``bucket`` exists, creating it if not (a restart finds it on the volume).
    False while the filer is still starting: the caller asks again."""
    listed = _shell("s3.bucket.list")
    if any(line.split()[:1] == [bucket] for line in listed.splitlines()):
        return True
    return f"created bucket {bucket}" in _shell(f"s3.bucket.create -name {bucket}")


def _shell(command: str) -> str:
    proc = subprocess.run(
        ["weed", "shell"], input=command + "\n", capture_output=True, text=True, timeout=60
    )
    return proc.stdout + proc.stderr


def main() -> int:
    bucket = os.environ.get("OBJECTS_BUCKET", "platform")
    RUN.mkdir(mode=0o700, parents=True, exist_ok=True)
    READY.unlink(missing_ok=True)
    fd = os.open(CONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as config:
        json.dump(_identities(bucket), config)
    weed = subprocess.Popen(
        [
            "weed",
            "server",
            f"-dir={DATA}",
            # The components find each other on loopback; only the S3 port is bound wider.
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={S3_PORT}",
            "-s3.ip.bind=0.0.0.0",
            f"-s3.config={CONFIG}",
            # Neither the Iceberg nor the Lance endpoint is used by the platform.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Volumes of 256 MB grow as needed instead of reserving gigabytes up front.
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            # No usage report to the vendor: the stack talks to nothing outside.
            "-master.telemetry=false",
        ]
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda n, _frame: weed.send_signal(n))
    deadline = time.monotonic() + READY_SECONDS
    while not (_answers() and _has_bucket(bucket)):
        if weed.poll() is not None:
            return weed.returncode
        if time.monotonic() > deadline:
            weed.terminate()
            weed.wait()
            print(f"objects: no S3 answer or bucket in {READY_SECONDS} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    READY.touch()
    print(f"objects: S3 on port {S3_PORT}, bucket {bucket} ready", flush=True)
    return weed.wait()


def health() -> int:
    return 0 if READY.exists() and _answers() else 1


if __name__ == "__main__":
    sys.exit(health() if sys.argv[1:] == ["--health"] else main())
