"""The ``dagster.yaml`` of a deployment: the repository's file, plus the PostgreSQL
storage block where the deployment has a server.

The repository's ``dagster.yaml`` has no ``storage`` block, so it is valid as it is for
stock tooling with nothing set (SQLite in the instance home). Deployments on PostgreSQL
append ``postgres_storage.yaml``; the images do it when they are built:

    python -m platform_instance.config dagster.yaml --postgres --out /opt/dagster/dagster.yaml
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


def postgres_storage_yaml() -> str:
    return files("platform_instance").joinpath("postgres_storage.yaml").read_text()


def instance_yaml(base: str, *, postgres: bool) -> str:
    """``base`` (the repository's file), with the PostgreSQL storage when ``postgres``.

    The text is appended rather than re-serialized, so the file keeps its comments.
    """
    if "storage" in (yaml.safe_load(base) or {}):
        raise ValueError("the base dagster.yaml must leave storage to the deployment")
    if not postgres:
        return base
    return base.rstrip("\n") + "\n\n" + postgres_storage_yaml()


def instance_config(base: str, *, postgres: bool) -> dict[str, Any]:
    return yaml.safe_load(instance_yaml(base, postgres=postgres))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the dagster.yaml of a deployment.")
    parser.add_argument("base", type=Path, help="the repository's dagster.yaml")
    parser.add_argument("--postgres", action="store_true", help="add the PostgreSQL storage")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = instance_yaml(args.base.read_text(), postgres=args.postgres)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
