"""The ``dagster.yaml`` of a deployment: the repository's file, plus the PostgreSQL
storage block where the deployment has a server, and the object store's compute logs
where its containers share no volume.

The repository's ``dagster.yaml`` has no ``storage`` or ``compute_logs`` block, so it is
valid as it is for stock tooling with nothing set (SQLite and log files in the instance
home). Deployments on PostgreSQL append ``postgres_storage.yaml``, and those that keep
files in a bucket ``s3_compute_logs.yaml``; the images do both when they are built:

    python -m platform_instance.config dagster.yaml --postgres --s3-compute-logs \
        --out /opt/dagster/dagster.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

POSTGRES_VARS = (
    "DAGSTER_POSTGRES_USER",
    "DAGSTER_POSTGRES_PASSWORD",
    "DAGSTER_POSTGRES_DB",
    "DAGSTER_POSTGRES_HOST",
    "DAGSTER_POSTGRES_PORT",
)


def uses_postgres(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` names a PostgreSQL server (all five variables set)."""
    return all(environ.get(v) for v in POSTGRES_VARS)


def _block(name: str) -> str:
    return files("platform_instance").joinpath(name).read_text()


def postgres_storage_yaml() -> str:
    return _block("postgres_storage.yaml")


def instance_yaml(base: str, *, postgres: bool, s3_compute_logs: bool = False) -> str:
    """``base`` (the repository's file), with the PostgreSQL storage when ``postgres`` and
    the compute logs in the object store when ``s3_compute_logs``.

    The text is appended rather than re-serialized, so the file keeps its comments.
    """
    parsed = yaml.safe_load(base) or {}
    for key in ("storage", "compute_logs"):
        if key in parsed:
            raise ValueError(f"the base dagster.yaml must leave {key} to the deployment")
    blocks = [base.rstrip("\n")]
    if postgres:
        blocks.append(postgres_storage_yaml())
    if s3_compute_logs:
        blocks.append(_block("s3_compute_logs.yaml"))
    return "\n\n".join(blocks) if len(blocks) > 1 else base


def instance_config(base: str, *, postgres: bool, s3_compute_logs: bool = False) -> dict[str, Any]:
    return yaml.safe_load(instance_yaml(base, postgres=postgres, s3_compute_logs=s3_compute_logs))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the dagster.yaml of a deployment.")
    parser.add_argument("base", type=Path, help="the repository's dagster.yaml")
    parser.add_argument("--postgres", action="store_true", help="add the PostgreSQL storage")
    parser.add_argument(
        "--s3-compute-logs", action="store_true", help="keep compute logs in the object store"
    )
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = instance_yaml(
        args.base.read_text(), postgres=args.postgres, s3_compute_logs=args.s3_compute_logs
    )
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
