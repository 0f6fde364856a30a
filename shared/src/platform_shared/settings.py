"""Every runtime knob of the platform, declared once.

Code reads settings through :func:`env` (an ``EnvVar`` resolved when a run or a sensor
tick starts), never at import time, so one built image or environment serves every
deployment. A setting nobody set takes its declared default in the process that declares
the resource, so stock Dagster tooling needs no configuration; the platform's launchers
fill the same defaults into the environments they start (:func:`with_defaults`). The
README's configuration reference lists the same names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from dagster import EnvVar


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "WAREHOUSE_CATALOG",
        "sqlite:data/warehouse/catalog.sqlite",
        "DuckLake catalog of the warehouse: 'sqlite:<file>' on one machine, or "
        "'postgres:dbname=... host=... port=... user=...' (no password) for many.",
    ),
    Setting(
        "WAREHOUSE_DATA_PATH",
        "data/warehouse/lake/",
        "Where the warehouse's Parquet files live (read from the catalog once it exists).",
    ),
    Setting(
        "WAREHOUSE_SNAPSHOT_RETENTION",
        "7 days",
        "How long the lake keeps a snapshot (and the files it reads) for time travel and "
        "for readers' transactions; older ones go at the daily maintenance.",
    ),
    Setting(
        "WAREHOUSE_MEMORY_LIMIT",
        "1GB",
        "Memory one warehouse connection may use before DuckDB spills to disk.",
    ),
    Setting(
        "LANDING_URL",
        "data/landing",
        "Where feeds deliver CSV files: a folder, or s3://bucket/prefix.",
    ),
    Setting(
        "EXPORT_URL",
        "data/warehouse/exports",
        "Where analytics publishes files (CSV, Parquet, charts): a folder, or s3://bucket/prefix.",
    ),
    Setting(
        "EXPORT_LINK_BASE",
        "",
        "Base URL under which people open exported files (a key's link is this plus the "
        "path below EXPORT_URL); empty: a folder's files link as file:// URLs, a bucket's "
        "as time-limited signed URLs.",
    ),
    Setting(
        "AWS_ENDPOINT_URL",
        "",
        "S3-compatible endpoint of the s3:// URLs above (e.g. http://objects:8333); empty: "
        "AWS S3 itself.",
    ),
    Setting("AWS_REGION", "us-east-1", "Region of the object store."),
    Setting(
        "AWS_ACCESS_KEY_ID",
        "",
        "Access key of the object store (with AWS_SECRET_ACCESS_KEY); empty: boto3's own "
        "credential chain for Python reads, anonymous access for DuckDB.",
    ),
    Setting(
        "REJECT_RATE_THRESHOLD",
        "0.05",
        "Share of rejected rows above which a load's blocking check fails.",
    ),
    Setting(
        "PLATFORM_TIMEZONE",
        "UTC",
        "IANA timezone of schedules (documented; schedules are built with it at load time).",
    ),
    Setting(
        "DAGSTER_WEBSERVER_URL",
        "http://127.0.0.1:3000",
        "Base URL of the UI, used for links in asset metadata and in alerts.",
    ),
    Setting(
        "ALERT_ROUTES",
        "alerts.toml",
        "TOML file that maps asset owners to where their alerts go (email addresses, "
        "webhook variables); without it, alerts are only logged.",
    ),
    Setting(
        "ALERT_SMTP_HOST",
        "",
        "SMTP server that sends alert emails; empty: no email is sent (and each one not "
        "sent is logged).",
    ),
    Setting("ALERT_SMTP_PORT", "25", "Port of ALERT_SMTP_HOST."),
    Setting(
        "ALERT_SMTP_USER",
        "",
        "Account on ALERT_SMTP_HOST, if it wants one (with ALERT_SMTP_PASSWORD; only over "
        "STARTTLS).",
    ),
    Setting("ALERT_EMAIL_FROM", "dagster@localhost", "Sender address of alert emails."),
)

_BY_NAME = {s.name: s for s in SETTINGS}

# Secrets have no default and never pass through Dagster's configuration (which the UI
# shows): the code that needs one reads it at connection time with :func:`secret`.
SECRETS: tuple[Setting, ...] = (
    Setting(
        "WAREHOUSE_CATALOG_PASSWORD",
        "",
        "Password of the warehouse catalog's PostgreSQL role (or *_FILE: a file holding it).",
    ),
    Setting(
        "AWS_SECRET_ACCESS_KEY",
        "",
        "Secret of AWS_ACCESS_KEY_ID (or *_FILE: a file holding it).",
    ),
    Setting(
        "ALERT_SMTP_PASSWORD",
        "",
        "Password of ALERT_SMTP_USER (or *_FILE: a file holding it).",
    ),
)
_SECRETS = {s.name for s in SECRETS}


def env(name: str) -> EnvVar:
    """The ``EnvVar`` for a declared setting (fails fast on a typo).

    An unset (or empty) variable is given its declared default in this process's
    environment: Dagster resolves an ``EnvVar`` with no default of its own, and
    ``dagster dev``, ``dagster asset materialize``, ``dg dev`` or ``materialize()`` in a
    notebook must work with nothing set. A value set before, by the deployment or a test,
    wins, and processes started from this one (run workers) inherit the same values.
    """
    if name not in _BY_NAME:
        raise KeyError(f"unknown setting {name!r}; declare it in platform_shared.settings")
    if not os.environ.get(name):
        os.environ[name] = _BY_NAME[name].default
    return EnvVar(name)


def secret(name: str) -> str | None:
    """A declared secret from the variable ``NAME``, or from the file ``NAME_FILE`` names
    (a mounted Docker or Kubernetes secret); None when neither is set."""
    if name not in _SECRETS:
        raise KeyError(f"unknown secret {name!r}; declare it in platform_shared.settings")
    return named_secret(name)


def named_secret(name: str) -> str | None:
    """Like :func:`secret`, for a variable named in configuration rather than declared
    here (the webhook variables of ``ALERT_ROUTES``)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    return None


def default(name: str) -> str:
    return _BY_NAME[name].default


def current(name: str) -> str:
    """The value in this process's environment, or the declared default."""
    return os.environ.get(name) or _BY_NAME[name].default


def with_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` with every unset setting filled with its default (settings
    whose default is empty stay unset: an empty ``AWS_ENDPOINT_URL`` is not "none" to
    every client)."""
    merged = dict(environ)
    for s in SETTINGS:
        if s.default and not merged.get(s.name):
            merged[s.name] = s.default
    return merged
